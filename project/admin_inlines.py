"""Inlines for records nobody edits: audit trails, codes as issued."""

from django.contrib import admin

AUDIT_FIELDS = ("at", "action", "from_status", "to_status", "actor", "gateway_reference", "note")


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class AuditTrailInline(ReadOnlyInline):
    """The append-only trail of what happened, who did it and when."""

    fields = AUDIT_FIELDS
    verbose_name_plural = "audit trail"
