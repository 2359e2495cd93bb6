"""An experiment, not a deployment: project.settings plus the settings changes
that bench/README.md recommends, so their effect can be measured before the
owners of project/ and workers/ adopt them (BENCH_DJANGO_SETTINGS=bench.tuned_settings).
"""

from project.settings import *  # noqa: F403

# Celery's Django fixup closes every database connection before and after each
# task unless this is set: each task then opens a new PostgreSQL connection (a
# backend fork and a login). With it, CONN_MAX_AGE governs workers as it does web.
CELERY_DB_REUSE_MAX = 1000

# Nobody reads the purchase tasks' return values (the status lives in the
# database), yet each publish SUBSCRIBEs to the result channel and each task
# stores and PUBLISHes its result: four Redis round trips per task.
CELERY_TASK_IGNORE_RESULT = True

# The "task sent" event is one more PUBLISH inside every purchase request; Flower
# still sees each task from the worker's received/started/succeeded events.
CELERY_TASK_SEND_SENT_EVENT = False
