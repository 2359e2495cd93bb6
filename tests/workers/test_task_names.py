"""One registry of task names (project/tasks.py): every name a service sends or
the beat schedules is registered by the worker and routed to its queue, and no
module spells a task name of its own."""

import re
from pathlib import Path

import pytest

from project import tasks
from workers.celery import app
from workers.schedule import project_schedule

ROOT = Path(__file__).resolve().parents[2]
# Where a task name is written: registered, scheduled, sent or named as a constant.
TASK_NAME = re.compile(
    r"(?:name=|[\"']task[\"']:\s*|send_task\(|enqueue_on_commit\(|_TASK\s*=\s*)"
    r"[\"'](?:tickets|payments|gateways|workers)\.\w+[\"']"
)


@pytest.fixture(scope="module", autouse=True)
def registered():
    app.loader.import_default_modules()


@pytest.mark.parametrize("name", sorted(tasks.QUEUE_OF))
def test_every_name_is_registered_by_the_worker_and_routed_to_its_queue(name):
    assert name in app.tasks
    assert app.amqp.router.route({}, name)["queue"].name == tasks.QUEUE_OF[name]


def test_the_worker_registers_no_task_outside_the_registry():
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    assert ours == set(tasks.QUEUE_OF)


def test_the_beat_schedules_only_the_registrys_sweeps():
    scheduled = {entry["task"] for entry in project_schedule().values()}
    assert scheduled == set(tasks.SWEEPS)


def test_no_module_spells_a_task_name_but_the_registry():
    spelled = [
        f"{path.relative_to(ROOT)}: {match.group()}"
        for package in ("project", "gateways", "tickets", "payments", "workers")
        for path in (ROOT / package).rglob("*.py")
        if path != ROOT / "project" / "tasks.py" and "migrations" not in path.parts
        for match in TASK_NAME.finditer(path.read_text())
    ]
    assert spelled == []
