"""The Celery app. `celery -A workers worker` finds it here.

It is configured from Django settings (the CELERY_ namespace) and autodiscovers
`tasks` modules of the installed apps, so workers/tasks.py is picked up.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("workers")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
