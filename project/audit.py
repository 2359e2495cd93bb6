"""What an audit-trail row is, for every product: when, what, from -> to, who,
and the gateway's reference. Rows are appended, never changed."""

from django.db import models

from project.actor import current_actor


class AuditEvent(models.Model):
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=40)
    from_status = models.CharField(max_length=40, blank=True)
    to_status = models.CharField(max_length=40, blank=True)
    actor = models.CharField(max_length=150)
    gateway_reference = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        abstract = True
        ordering = ["at", "id"]

    def save(self, *args, **kwargs) -> None:
        # Who acted is read when the row is written (project/actor.py).
        self.actor = (self.actor or current_actor())[:150]
        self.note = self.note[:255]
        super().save(*args, **kwargs)
