from celery.signals import task_postrun, task_prerun, worker_init
from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Workers"

    def ready(self) -> None:
        # Importing the app makes it Celery's current app in every Django process,
        # so project/queue.py publishes through the project's configuration.
        from workers import metrics
        from workers.celery import app  # noqa: F401
        from workers.policy import task_finished, task_started
        from workers.schedule import schedule_install

        task_prerun.connect(task_started, dispatch_uid="workers.actor.start")
        task_postrun.connect(task_finished, dispatch_uid="workers.actor.finish")
        task_prerun.connect(metrics.task_started, dispatch_uid="workers.metrics.start")
        task_postrun.connect(metrics.task_finished, dispatch_uid="workers.metrics.finish")
        worker_init.connect(metrics.worker_node_started, dispatch_uid="workers.metrics.node")

        # Installed once per `migrate`, after the beat's own tables are in place.
        beat = apps.get_app_config("django_celery_beat")
        post_migrate.connect(schedule_install, sender=beat, dispatch_uid="workers.schedule")
