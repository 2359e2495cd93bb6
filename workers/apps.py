from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Workers"

    def ready(self) -> None:
        # Importing the app here makes `.delay()` from web processes use the
        # project's configured app, not Celery's default one.
        from workers.celery import app  # noqa: F401
        from workers.schedule import schedule_install

        post_migrate.connect(schedule_install, sender=self, dispatch_uid="workers.schedule")
