"""The load generator: B buyers over C concurrent HTTP connections (aiohttp).

Each buyer posts one purchase (quantity 1, its own e-mail, `tok_success`), then
polls the status URL from the `Location` header, sending the last `ETag` and
sleeping what `Retry-After` says, until the purchase is final. All requests,
purchases and polls alike, share C connections: at most C are in flight at
once, as from C browsers. Latency is timed from the moment a request has its
connection slot, so it is the server's answer time under C concurrent clients,
not the time a buyer waited for a free slot.

A 409 whose JSON `code` is "sold_out" is an answer, not a rejection: the
ticket had no seat left (and none held that could come back), nothing was
stored, and the buyer stops there (`Buyer.sold_out`).

`get_each` times one GET per URL over C connections the same way (the status
GET of the bare calibration stack, bench/calibration.py).
"""

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import aiohttp

FINAL_STATUSES = {"completed", "failed", "expired", "cancelled", "refunded"}
SOLD_STATUSES = {"confirmed", "completed"}
DEFAULT_RETRY_AFTER = 1.0
PURCHASE_PATH = "/api/tickets/purchase/direct/"
SOLD_OUT_CODE = "sold_out"


@dataclass
class Buyer:
    index: int
    email: str
    arrived_at: float = 0.0  # wall clock, when the buyer wanted to POST (before a slot)
    sent_at: float = 0.0  # wall clock, when the POST got its slot
    accepted_at: float = 0.0
    accept_ms: float | None = None
    http_status: int | None = None
    error: str | None = None
    sold_out: bool = False  # answered 409 {"code": "sold_out"}: nothing stored
    purchase_id: str | None = None
    location: str | None = None  # the 202's status URL
    first_wait: float = 0.0  # the 202's Retry-After (0 when it has none: look at once)
    polls: int = 0
    not_modified: int = 0
    poll_errors: int = 0
    seen_sold_at: float | None = None
    final_at: float | None = None
    final_status: str | None = None

    @property
    def known_at(self) -> float | None:
        """When the buyer knew where it stood: a 409 `sold_out`, or a final status seen."""
        return self.accepted_at if self.sold_out else self.final_at


@dataclass
class LoadResult:
    buyers: list[Buyer]
    poll_ms: list[float] = field(default_factory=list)
    first_poll_at: float = 0.0
    last_poll_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    timed_out: bool = False


class LoadGenerator:
    def __init__(
        self,
        *,
        base_url: str,
        ticket_id: int,
        buyers: int,
        concurrency: int,
        rate: float = 0.0,
        run_id: str,
        idempotency_keys: bool = False,
        timeout_s: float = 600.0,
        purchase_path: str = PURCHASE_PATH,
        status_path: str = "",
        poll: bool = True,
    ) -> None:
        """`status_path` ("/status/{id}/") stands in for a missing `Location`;
        `poll=False` stops each buyer at its POST's answer."""
        self.base_url = base_url
        self.ticket_id = ticket_id
        self.concurrency = concurrency
        self.rate = rate
        self.run_id = run_id
        self.idempotency_keys = idempotency_keys
        self.timeout_s = timeout_s
        self.purchase_path = purchase_path
        self.status_path = status_path
        self.poll = poll
        self.result = LoadResult(
            [Buyer(i, f"buyer{i}.{run_id}@bench.example.com") for i in range(buyers)]
        )

    def run(self) -> LoadResult:
        return asyncio.run(self._run())

    async def _run(self) -> LoadResult:
        self.slots = asyncio.Semaphore(self.concurrency)
        connector = aiohttp.TCPConnector(limit=self.concurrency, force_close=False)
        timeout = aiohttp.ClientTimeout(total=60)
        self.deadline = time.monotonic() + self.timeout_s
        self.result.started_at = time.time()
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self.session = session
            start = time.monotonic()
            jobs = [self._buyer(buyer, start) for buyer in self.result.buyers]
            await asyncio.gather(*jobs)
        self.result.finished_at = time.time()
        return self.result

    async def _buyer(self, buyer: Buyer, start: float) -> None:
        if self.rate > 0:
            await asyncio.sleep(max(0.0, start + buyer.index / self.rate - time.monotonic()))
        buyer.arrived_at = time.time()
        location = await self._purchase(buyer)
        if location and self.poll:
            await self._poll(buyer, location)

    def _client_address(self, index: int) -> str:
        # RFC 2544's benchmarking range: a distinct client per buyer for the throttle.
        return f"198.{18 + (index >> 16)}.{(index >> 8) & 255}.{index & 255}"

    async def _purchase(self, buyer: Buyer) -> str | None:
        body = {
            "ticket_id": self.ticket_id,
            "quantity": 1,
            "customer_name": f"Buyer {buyer.index}",
            "customer_email": buyer.email,
            "payment_method": "card",
            "payment_token": "tok_success",
        }
        headers = {"X-Forwarded-For": self._client_address(buyer.index)}
        if self.idempotency_keys:
            headers["Idempotency-Key"] = str(uuid.uuid5(uuid.NAMESPACE_URL, buyer.email))
        url = f"{self.base_url}{self.purchase_path}"
        async with self.slots:
            buyer.sent_at = time.time()
            began = time.perf_counter()
            try:
                async with self.session.post(url, json=body, headers=headers) as response:
                    payload = await response.json(content_type=None)
                    buyer.http_status = response.status
                    location = response.headers.get("Location")
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                buyer.error = f"{type(exc).__name__}: {exc}"
                return None
            buyer.accept_ms = (time.perf_counter() - began) * 1000
            buyer.accepted_at = time.time()
        if _is_sold_out(buyer.http_status, payload):
            buyer.sold_out = True
            return None
        if buyer.http_status == 202 and not location and self.status_path:
            location = self.base_url + self.status_path.format(id=payload["purchase_id"])
        if buyer.http_status != 202 or not location:
            buyer.error = f"HTTP {buyer.http_status}: {str(payload)[:200]}"
            return None
        buyer.purchase_id = payload["purchase_id"]
        buyer.location = location
        buyer.first_wait = float(retry_after) if retry_after else 0.0
        self._observe(buyer, payload.get("status"))
        return location

    async def _poll(self, buyer: Buyer, location: str) -> None:
        etag = None
        wait = buyer.first_wait  # as a front end does: not before the 202's Retry-After
        while buyer.final_at is None:
            if time.monotonic() + wait > self.deadline:
                self.result.timed_out = True
                return
            await asyncio.sleep(wait)
            headers = {"If-None-Match": etag} if etag else {}
            async with self.slots:
                began = time.perf_counter()
                try:
                    async with self.session.get(location, headers=headers) as response:
                        status_code = response.status
                        payload = await response.json() if status_code == 200 else None
                        etag = response.headers.get("ETag", etag)
                        retry_after = response.headers.get("Retry-After")
                except (aiohttp.ClientError, TimeoutError, ValueError):
                    buyer.poll_errors += 1
                    wait = DEFAULT_RETRY_AFTER
                    continue
                elapsed_ms = (time.perf_counter() - began) * 1000
            now = time.time()
            self.result.poll_ms.append(elapsed_ms)
            self.result.first_poll_at = self.result.first_poll_at or now
            self.result.last_poll_at = now
            buyer.polls += 1
            if status_code == 304:
                buyer.not_modified += 1
            elif status_code == 200:
                self._observe(buyer, payload["status"])
            else:
                buyer.poll_errors += 1
            wait = float(retry_after) if retry_after else DEFAULT_RETRY_AFTER

    @staticmethod
    def _observe(buyer: Buyer, status: str | None) -> None:
        now = time.time()
        if status in SOLD_STATUSES and buyer.seen_sold_at is None:
            buyer.seen_sold_at = now
        if status in FINAL_STATUSES:
            buyer.final_at = now
            buyer.final_status = status


def _is_sold_out(status: int | None, payload) -> bool:
    return status == 409 and isinstance(payload, dict) and payload.get("code") == SOLD_OUT_CODE


@dataclass
class GetResult:
    """One GET per URL: latencies of the 200s, the other answers by status."""

    ms: list[float] = field(default_factory=list)
    statuses: dict[int | str, int] = field(default_factory=dict)
    started_at: float = 0.0
    finished_at: float = 0.0


def get_each(urls: list[str], concurrency: int) -> GetResult:
    return asyncio.run(_get_each(urls, concurrency))


async def _get_each(urls: list[str], concurrency: int) -> GetResult:
    result = GetResult()
    slots = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def one(session: aiohttp.ClientSession, url: str) -> None:
        async with slots:
            began = time.perf_counter()
            try:
                async with session.get(url) as response:
                    await response.read()
                    status: int | str = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = type(exc).__name__
            elapsed_ms = (time.perf_counter() - began) * 1000
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status == 200:
            result.ms.append(elapsed_ms)

    result.started_at = time.time()
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(one(session, url) for url in urls))
    result.finished_at = time.time()
    return result
