"""Buyers that behave like a well-written client during an outage: each sends its
purchase with its own `Idempotency-Key` and, on 503, 409 (its key in flight),
429, a dropped connection or a timeout, sends the same request again until it
gets its 202. Every answer is recorded for the audit.
"""

import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field

# Worth sending again with the same key; anything else but 202 is an answer.
RETRY_STATUSES = {409, 429, 503}
SERVER_ERROR = 500


@dataclass
class Answer:
    """One HTTP exchange; `status` is None when no response came back."""

    status: int | None
    elapsed: float
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    error: str = ""

    @property
    def is_json(self) -> bool:
        if not self.headers.get("content-type", "").startswith("application/json"):
            return False
        try:
            json.loads(self.body)
        except ValueError:
            return False
        return True

    def json(self) -> dict:
        return json.loads(self.body)

    def describe(self) -> str:
        if self.status is None:
            return f"no response after {self.elapsed:.1f}s ({self.error})"
        kind = self.headers.get("content-type", "?")
        return f"{self.status} {kind} after {self.elapsed:.1f}s: {self.body[:200]!r}"


def http(
    method: str,
    url: str,
    body: dict | None = None,
    headers: dict | None = None,
    timeout: float = 10.0,
) -> Answer:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(
                response.status,
                time.monotonic() - started,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as error:
        return Answer(
            error.code,
            time.monotonic() - started,
            {k.lower(): v for k, v in error.headers.items()},
            error.read(),
        )
    except (OSError, urllib.error.URLError, ValueError) as error:
        # Refused, reset, timed out, or a response cut off half-way.
        return Answer(None, time.monotonic() - started, error=f"{type(error).__name__}: {error}")


class Buyer:
    def __init__(self, n: int, ticket_id: int) -> None:
        self.n = n
        self.key = f"fault-{uuid.uuid4()}"
        self.email = f"buyer{n}@fault.example.com"
        self.body = {
            "ticket_id": ticket_id,
            "quantity": 1,
            "customer_name": f"Buyer {n}",
            "customer_email": self.email,
            "payment_method": "card",
            "payment_token": "tok_success",
        }
        self.answers: list[Answer] = []
        self.purchase_id: str | None = None

    def buy(self, url: str, deadline: float, on_accepted) -> None:
        while time.monotonic() < deadline:
            answer = http(
                "POST",
                f"{url}/api/tickets/purchase/direct/",
                self.body,
                {"Idempotency-Key": self.key},
                timeout=10,
            )
            self.answers.append(answer)
            if answer.status == 202:
                self.purchase_id = answer.json()["purchase_id"]
                on_accepted()
                return
            # A 500 is a failure of the test, but keep going to see how the buyer ends.
            if answer.status not in (None, SERVER_ERROR, *RETRY_STATUSES):
                return
            time.sleep(random.uniform(0.2, 0.4))


class Sale:
    """`buyers` buyers arriving one every `stagger` seconds, each in its own thread."""

    def __init__(self, url: str, ticket_id: int, buyers: int, stagger: float, seconds: float):
        self.url = url
        self.buyers = [Buyer(n, ticket_id) for n in range(buyers)]
        self.stagger = stagger
        self.seconds = seconds
        self.accepted = 0
        self._changed = threading.Condition()
        self._threads: list[threading.Thread] = []

    def _accepted(self) -> None:
        with self._changed:
            self.accepted += 1
            self._changed.notify_all()

    def start(self) -> "Sale":
        started = time.monotonic()
        deadline = started + self.seconds

        def arrive(buyer: Buyer) -> None:
            time.sleep(max(0.0, started + buyer.n * self.stagger - time.monotonic()))
            buyer.buy(self.url, deadline, self._accepted)

        self._threads = [
            threading.Thread(target=arrive, args=(b,), daemon=True) for b in self.buyers
        ]
        for thread in self._threads:
            thread.start()
        return self

    def wait_for_accepted(self, count: int, timeout: float) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.accepted >= count, timeout=timeout):
                raise AssertionError(
                    f"only {self.accepted} of {len(self.buyers)} buyers accepted after {timeout}s "
                    f"before any fault:\n{self.answer_summary()}"
                )

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=self.seconds + 15)

    def answer_summary(self) -> str:
        counts: dict[str, int] = {}
        for buyer in self.buyers:
            for answer in buyer.answers:
                label = str(answer.status) if answer.status else "no response"
                counts[label] = counts.get(label, 0) + 1
        return ", ".join(f"{label}: {n}" for label, n in sorted(counts.items()))

    def problems(self) -> list[str]:
        """What the buyers saw that a careful client must never see."""
        problems = []
        for buyer in self.buyers:
            for answer in buyer.answers:
                if answer.status == SERVER_ERROR:
                    problems.append(f"buyer {buyer.n} got a 500: {answer.describe()}")
                elif answer.status not in (None, 202, *RETRY_STATUSES):
                    problems.append(f"buyer {buyer.n} got {answer.describe()}")
                elif answer.status in RETRY_STATUSES and not answer.is_json:
                    problems.append(f"buyer {buyer.n} got a non-JSON {answer.describe()}")
            if buyer.purchase_id is None:
                last = buyer.answers[-1].describe() if buyer.answers else "never sent"
                problems.append(
                    f"buyer {buyer.n} never got a 202 in {self.seconds}s "
                    f"({len(buyer.answers)} tries, last: {last})"
                )
        return problems
