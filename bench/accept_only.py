"""Accept only: the project's accept path measured as the bare stack's is.

The bare stack (bench/calibration.py) is timed with its worker consuming an
idle queue, so its `/buy/` competes with nothing. In the burst our 202s share
the two cores with the worker and the mailer; this phase takes that away, and
then follows the bare stack's steps one for one:

1. The pipeline's queue (`celery`) is taken from every worker node with
   Celery's remote control (`cancel_consumer`), confirmed by `active_queues`;
   the web, the mailer, the beat and the worker's other queues run as ever.
   A publish that meets the cancelled consumer is put back on the queue
   (kombu rejects it with requeue), and the load starts a poll interval
   later, after any wait for the queue already sent to the broker has ended.
2. N buyers (a seat each) POST at once over C connections, no polling:
   `accept_only_per_s` = 202s ÷ (last 202 - first POST), the bare stack's
   `accepted_per_s` definition.
3. One status GET per purchase, every purchase waiting in line (the bare
   stack's status step): `status_per_s`, and server CPU per GET.
4. `add_consumer`: the worker drains. Purchases leaving `pending` are counted
   every 0.1 s until none is left (`drain_s`), then every purchase final
   (e-mails sent, `drain_to_final_s`), then the audit.

A purchase decided before step 4 means the worker did consume while the
buyers posted: `decided_before_drain`, which fails the run.
"""

import time

from bench.config import Config
from bench.load import LoadGenerator, get_each
from bench.monitor import Monitor, cpu_between, cpu_ms_per
from bench.report import accept_figures, rate, spread
from bench.sale import audit_sale, create_ticket, wait_settled
from bench.stack import Stack

PIPELINE_QUEUE = "celery"
DRAIN_SAMPLE_S = 0.1
# Longer than kombu's Redis BRPOP timeout (1 s): a wait for the pipeline's queue
# issued before the cancel has ended by then.
AFTER_CANCEL_S = 1.5
ACCEPT_KEYS = (
    "buyers", "accepted", "sold_out_at_accept", "rejected", "rejections", "accept_window_s",
    "accepted_per_s", "accept_p50_ms", "accept_p99_ms",
)  # fmt: skip


class PausedPipeline:
    """The worker nodes not consuming the pipeline's queue until `resume`."""

    def __init__(self, nodes: list[str]) -> None:
        from workers.celery import app

        self.control = app.control
        self.nodes = nodes
        self.paused = False

    def pause(self) -> None:
        self.paused = True  # before asking: a half-done cancel is resumed too
        self._tell("cancel_consumer")
        still = self.consuming()
        if still:
            raise RuntimeError(f"{PIPELINE_QUEUE!r} still consumed by {still} after the cancel")
        time.sleep(AFTER_CANCEL_S)

    def resume(self) -> None:
        if self.paused:
            self._tell("add_consumer")
            self.paused = False

    def consuming(self) -> list[str]:
        queues = self.control.inspect(destination=self.nodes, timeout=5).active_queues() or {}
        missing = set(self.nodes) - set(queues)
        if missing:
            raise RuntimeError(f"no active_queues answer from {sorted(missing)}")
        return sorted(n for n, qs in queues.items() if any(q["name"] == PIPELINE_QUEUE for q in qs))

    def _tell(self, command: str) -> None:
        replies = getattr(self.control, command)(
            PIPELINE_QUEUE, destination=self.nodes, reply=True, timeout=5
        )
        answered = {node for reply in replies for node in reply}
        if answered != set(self.nodes):
            raise RuntimeError(f"{command}: answers from {sorted(answered)} of {self.nodes}")


def pending(ticket_id: int) -> int:
    from tickets.models import TicketPurchase

    return TicketPurchase.objects.filter(
        ticket_id=ticket_id, status=TicketPurchase.Status.PENDING
    ).count()


def drain(ticket_id: int, pipeline: PausedPipeline, timeout: float) -> dict:
    """Resumes the pipeline; how long until no purchase of the ticket is pending."""
    before = pending(ticket_id)
    told_at = time.time()
    pipeline.resume()
    left = before
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        time.sleep(DRAIN_SAMPLE_S)
        left = pending(ticket_id)
    decided_at = time.time()
    return {
        "pending_before_drain": before,
        "pending_left": left,
        "drain_s": round(decided_at - told_at, 3),
        "drained_per_s": rate(before - left, decided_at - told_at),
    }


def run_accept_only(stack: Stack, monitor: Monitor, config: Config, *, buyers: int,
                    payments_before: int) -> dict:  # fmt: skip
    ticket_id = create_ticket(f"Accept only {stack.logdir.name}", buyers)
    pipeline = PausedPipeline(stack.pipeline_nodes())
    try:
        pipeline.pause()
        before = monitor.snapshot()
        load = LoadGenerator(
            base_url=stack.base_url, ticket_id=ticket_id, buyers=buyers,
            concurrency=config.concurrency, run_id=f"{stack.logdir.name}-accept-only",
            idempotency_keys=config.idempotency_keys, timeout_s=config.timeout_s, poll=False,
        ).run()  # fmt: skip
        accepted_snap = monitor.snapshot()
        locations = [b.location for b in load.buyers if b.location]
        gets = get_each(locations, config.concurrency)
        status_snap = monitor.snapshot()
        decided_before_drain = len(locations) - pending(ticket_id)
        drained = drain(ticket_id, pipeline, config.timeout_s)
    finally:
        pipeline.resume()  # the later phases need a worker that consumes
    settle_began = time.monotonic()
    wait_settled(ticket_id, timeout=config.timeout_s)
    drain_to_final_s = drained["drain_s"] + time.monotonic() - settle_began
    after = monitor.snapshot()
    answers = accept_figures(load)
    audit = audit_sale(ticket_id, load, payments_before)
    cpu = cpu_between(before, after)
    return {
        **{key: answers[key] for key in ACCEPT_KEYS},
        "decided_before_drain": decided_before_drain,
        "status_gets": len(locations),
        "status_answers": {str(k): v for k, v in gets.statuses.items()},
        "status_per_s": rate(len(gets.ms), gets.finished_at - gets.started_at),
        **spread("status", gets.ms),
        **drained,
        "drain_to_final_s": round(drain_to_final_s, 3),
        "server_cpu_ms_per_accept": cpu_ms_per(cpu_between(before, accepted_snap), len(locations)),
        "server_cpu_ms_per_status_get": cpu_ms_per(
            cpu_between(accepted_snap, status_snap), len(locations)
        ),
        "server_cpu_ms_per_seated_purchase": cpu_ms_per(cpu, audit["seats_sold"]),
        "cpu": cpu,
        "audit": audit,
    }
