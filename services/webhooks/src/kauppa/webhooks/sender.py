"""The sender: takes the head of each key of each active subscription and POSTs it,
outside any transaction, signed per Standard Webhooks.

One delivery, three steps:

1. ``claim``: the head of a key (the oldest undelivered delivery of that key in that
   subscription) becomes ``delivering`` under a lease; nothing after it in the key is
   taken until it is delivered (per-key order, also across replicas).
2. ``post``: resolve the host (refused targets outside the local profile), sign and
   send with a timeout. No transaction is open.
3. ``record``: the attempt's outcome waits for the loop's next flush, which writes every
   finished attempt at once (attempts in one insert, the deliveries in one bulk write,
   each subscription once) and logs each; the delivery is ``delivered``, or ``pending``
   again after a backoff with jitter (or the receiver's ``Retry-After``). A subscription
   failing without a success for ``disable_after_hours`` is disabled, and
   ``WebhookSubscriptionDisabled`` emitted in the same transaction. The key stays
   busy until its outcome is written (per-key order).

A crash between 1 and 3 (or a flush that fails) leaves the delivery ``delivering``;
when its lease ends, a sender claims it again and sends it with the same
``webhook-id`` (the event id).

Isolation: each subscription has at most ``per_subscription_in_flight`` deliveries in
flight (one per key), each with its own task and timeout, over its own keep-alive
connections (``http1.Pool``); the loop never waits for a receiver, so a slow or dead one
holds up only its own deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from kauppa.contracts import WebhookSubscriptionDisabled
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.committer import Committer
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.mongo import is_transient
from kauppa.servicekit.repository import Document
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import UnitOfWork
from kauppa.webhooks import repository
from kauppa.webhooks.domain import signing
from kauppa.webhooks.domain.retries import (
    AttemptOutcome,
    disabled_notice,
    next_try,
    parse_retry_after,
    should_disable,
)
from kauppa.webhooks.domain.targets import TargetRefused, check_addresses, check_url
from kauppa.webhooks.http1 import HttpError, Pool, ResponseTimeout
from kauppa.webhooks.repository import Webhooks
from kauppa.webhooks.settings import WebhooksSettings
from prometheus_client import CollectorRegistry, Counter, Histogram
from pymongo import UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

Resolver = Callable[[str, int], Awaitable[list[str]]]
# A finished attempt waiting to be recorded: (subscription, delivery, lease token, outcome).
Done = tuple[Document, Document, str, AttemptOutcome]
# What the sender loop emits (through the kit's outbox); the runtime declares it, so the
# service's AsyncAPI document lists the send.
SENDER_EMITS = (WebhookSubscriptionDisabled,)
log = get_logger(__name__)


async def resolve(host: str, port: int) -> list[str]:
    """Every address the host resolves to."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def signing_secrets(sub: Document, now: datetime) -> list[str]:
    """The secrets that sign now: the current one and, during a rotation's overlap, the
    previous ones not yet expired."""
    return [
        s["secret"]
        for s in sub.get("secrets", [])
        if s.get("expires_at") is None or _aware(s["expires_at"]) > now
    ]


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class SenderMetrics:
    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.service = service
        self.attempts = Counter(
            "kauppa_webhook_attempts_total",
            "Webhook delivery attempts by result (delivered, failed, refused)",
            ["service", "result"],
            registry=registry,
        )
        self.latency = Histogram(
            "kauppa_webhook_attempt_seconds",
            "Time of one webhook HTTP attempt",
            ["service"],
            registry=registry,
        )
        self.delivered_after = Histogram(
            "kauppa_webhook_event_to_delivered_seconds",
            "From the event's time to the receiver's 2xx",
            ["service"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600, 3600, 86400),
            registry=registry,
        )
        self.disabled = Counter(
            "kauppa_webhook_subscriptions_disabled_total",
            "Subscriptions disabled after failing too long",
            ["service"],
            registry=registry,
        )
        self.resumed = Counter(
            "kauppa_webhook_interrupted_attempts_total",
            "Deliveries claimed again after a crash or a lost lease (sent again, same id)",
            ["service"],
            registry=registry,
        )


class WebhookSender:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        committer: Committer,
        clock: Clock,
        settings: WebhooksSettings,
        metrics: SenderMetrics,
        resolver: Resolver = resolve,
    ) -> None:
        self.db, self.clock, self.settings, self.metrics = db, clock, settings, metrics
        self.committer = committer
        self.resolver = resolver
        self.owner = f"sender-{uuid.uuid4().hex[:12]}"
        s = settings
        self.lease = timedelta(
            seconds=s.claim_lease_seconds or max(s.request_timeout_seconds * 3 + 5, 1.0)
        )
        self.base = timedelta(seconds=s.retry_base_seconds)
        self.cap = timedelta(seconds=s.retry_max_seconds)
        self.retry_after_cap = timedelta(seconds=s.retry_after_max_seconds)
        self.disable_after = timedelta(hours=s.disable_after_hours)
        self.in_flight: dict[str, set[str]] = defaultdict(set)
        self.success_noted: dict[str, float] = {}
        self.delivered_unnoted: dict[str, int] = defaultdict(int)
        self.tasks: set[asyncio.Task[None]] = set()
        self.done: list[Done] = []  # finished attempts, recorded by the next flush
        self.pools: dict[str, Pool] = {}  # per subscription: keep-alive connections
        self._closing: set[asyncio.Future[None]] = set()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ 1. claim
    async def heads(self, sub_id: str, now: datetime, limit: int) -> list[str]:
        """Up to ``limit`` due heads of the subscription's keys, oldest first; keys this
        sender has in flight are left out. Due candidates are read in ``seq`` order
        (a key's head comes before its followers), then each kept only if no older
        undelivered delivery of its key exists."""
        busy = self.in_flight.get(sub_id, set())
        candidates = await repository.due_candidates(self.db, sub_id, now, limit * 4)
        candidates = [c for c in candidates if c["key"] not in busy]
        if not candidates:
            return []
        oldest = await repository.oldest_open(self.db, sub_id, list({c["key"] for c in candidates}))
        heads = [c["_id"] for c in candidates if oldest.get(c["key"]) == c["seq"]]
        return heads[:limit]

    async def claim(self, ids: list[str], now: datetime) -> tuple[str, list[Document]]:
        """Claim the deliveries under one lease token; those another sender took are
        left out. A delivery found ``delivering`` with its lease over is resumed."""
        token = f"{self.owner}-{uuid.uuid4().hex[:8]}"
        lease_until = now + self.clock.span(self.lease)
        won = await repository.claim(self.db, ids, token, now, lease_until)
        for doc in won:
            if doc.get("resumed"):
                self.metrics.resumed.labels(self.metrics.service).inc()
                log.warning(
                    "webhook_attempt_resumed",
                    delivery_id=doc["_id"],
                    event_id=doc["event_id"],
                    subscription_id=doc["subscription_id"],
                )
        return token, won

    # ------------------------------------------------------------------ 2. post
    async def check_target(self, url: str) -> None:
        local = self.settings.local
        host = check_url(url, local=local)
        if local:
            return
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await self.resolver(host, port)
        except OSError as exc:
            raise TargetRefused(f"{host} does not resolve: {exc}") from exc
        check_addresses(host, addresses, local=local)

    def _close_later(self, pool: Pool) -> None:
        closing = asyncio.ensure_future(pool.aclose())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    def pool(self, sub: Document) -> Pool:
        """The subscription's keep-alive connections (a new pool when its URL changed)."""
        pool = self.pools.get(sub["_id"])
        if pool is None or pool.url != sub["url"]:
            if pool is not None:
                self._close_later(pool)
            pool = Pool(
                sub["url"],
                max(self.settings.per_subscription_in_flight, 1),
                user_agent="kauppa-webhooks/0.1",
            )
            self.pools[sub["_id"]] = pool
        return pool

    async def post(self, sub: Document, doc: Document) -> AttemptOutcome:
        body = doc["body"].encode()
        started = time.perf_counter()

        def elapsed() -> float:
            return round((time.perf_counter() - started) * 1000, 2)

        try:
            await self.check_target(sub["url"])
            # webhook-timestamp is the real time of this attempt: receivers check it
            # against their own clocks (replay protection), whatever the business clock.
            stamp = int(time.time())
            secrets = signing_secrets(sub, self.clock.now())
            headers = signing.headers(secrets, doc["event_id"], stamp, body)
            response = await self.pool(sub).post(
                body, headers, self.settings.request_timeout_seconds
            )
        except TargetRefused as exc:
            return AttemptOutcome(None, elapsed(), f"refused: {exc}")
        except ResponseTimeout as exc:
            return AttemptOutcome(None, elapsed(), f"timeout: {exc}")
        except HttpError as exc:
            return AttemptOutcome(None, elapsed(), f"{type(exc).__name__}: {exc}"[:300])
        status = response.status
        if 200 <= status < 300:
            return AttemptOutcome(status, elapsed())
        retry_after = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
        return AttemptOutcome(status, elapsed(), f"HTTP {status}", retry_after)

    # ------------------------------------------------------------------ 3. record
    def _outcome_writes(
        self, done: list[Done], now: datetime
    ) -> tuple[list[Document], list[UpdateOne | UpdateMany]]:
        """The attempts to insert and the deliveries' updates, for one flush."""
        s, service = self.settings, self.metrics.service
        attempts: list[Document] = []
        updates: list[UpdateOne | UpdateMany] = []
        for _sub, doc, token, out in done:
            refused = out.status is None and (out.error or "").startswith("refused")
            result = "delivered" if out.delivered else ("refused" if refused else "failed")
            attempts.append(
                {
                    "delivery_id": doc["_id"],
                    "subscription_id": doc["subscription_id"],
                    "organisation_id": doc["organisation_id"],
                    "event_id": doc["event_id"],
                    "attempt": doc["attempts"],
                    "at": now,
                    "status": out.status,
                    "latency_ms": out.latency_ms,
                    "error": out.error,
                    "result": result,
                }
            )
            self.metrics.attempts.labels(service, result).inc()
            self.metrics.latency.labels(service).observe(out.latency_ms / 1000)
            log_fields = {
                "subscription_id": doc["subscription_id"],
                "delivery_id": doc["_id"],
                "event_id": doc["event_id"],
                "event_type": doc["event_type"],
                "attempt": doc["attempts"],
                "status": out.status,
                "latency_ms": out.latency_ms,
                "error": out.error,
            }
            if out.delivered:
                retention = timedelta(days=s.retention_days)
                updates.extend(repository.delivered_writes(doc, out.status, now, retention))
                event_time = _aware(doc["event_time"])
                self.metrics.delivered_after.labels(service).observe(
                    max(self.clock.real_seconds(now - event_time), 0.0)
                )
                log.info("webhook_delivered", **log_fields)
                continue
            wait = next_try(out, doc["attempts"], self.base, self.cap, self.retry_after_cap)
            retry_at = now + self.clock.span(wait)
            updates.extend(repository.retry_writes(doc, token, out.status, out.error, retry_at))
            log.warning(
                "webhook_attempt_failed", retry_in_s=round(wait.total_seconds(), 2), **log_fields
            )
        return attempts, updates

    async def flush(self) -> int:
        """Record every finished attempt in bulk: the attempts in one insert, the
        deliveries' outcomes in one bulk write, each subscription's success or failure
        in one update. Only then are the keys free for their next delivery (per-key
        order). If this fails, the deliveries stay ``delivering`` and are sent again,
        same id, once their lease ends (as after a crash)."""
        done, self.done = self.done, []
        now = self.clock.now()
        if not done:
            await self._note_successes(now, set())
            return 0
        try:
            attempts, updates = self._outcome_writes(done, now)
            await repository.record_outcomes(self.db, attempts, updates)
            await self._note_subscriptions(done, now)
        except Exception as exc:
            if is_transient(exc):
                log.warning("webhook_record_failed", error=str(exc)[:200], count=len(done))
            else:
                log.exception("webhook_record_failed", count=len(done))
        finally:
            for _sub, doc, _token, _out in done:
                self.in_flight[doc["subscription_id"]].discard(doc["key"])
        return len(done)

    async def _note_successes(self, now: datetime, urgent: set[str]) -> None:
        """Successes are noted on the subscription (``last_success_at``, the count
        ``delivered``) at most once a second each, at once when they end a failing
        streak (``urgent``)."""
        for sub_id, count in list(self.delivered_unnoted.items()):
            last = self.success_noted.get(sub_id)
            if not count or not (sub_id in urgent or last is None or time.monotonic() - last > 1.0):
                continue
            self.success_noted[sub_id] = time.monotonic()
            self.delivered_unnoted[sub_id] = 0
            await repository.note_successes(self.db, sub_id, now, count)

    async def _note_subscriptions(self, done: list[Done], now: datetime) -> None:
        """A success ends a failing streak; a failure starts or extends one and may
        disable the subscription."""
        service = self.metrics.service
        urgent: set[str] = set()
        failed: dict[str, AttemptOutcome] = {}
        for sub, doc, _token, out in done:
            sub_id = doc["subscription_id"]
            if sub.get("failing_since"):
                urgent.add(sub_id)
            if out.delivered:
                self.delivered_unnoted[sub_id] += 1
            else:
                failed[sub_id] = out  # the last failure's error is kept
                urgent.add(sub_id)
        await self._note_successes(now, urgent)
        for sub_id, out in failed.items():
            after = await repository.note_failure(self.db, sub_id, now, out.error)
            self.success_noted.pop(sub_id, None)
            if after is None or after.get("state") != "active":
                continue
            failing_for = timedelta(
                seconds=self.clock.real_seconds(now - _aware(after["failing_since"]))
            )
            if not should_disable(failing_for, self.disable_after):
                continue
            if await self.disable(after, now, out.error):
                self.metrics.disabled.labels(service).inc()
                log.error(
                    "webhook_subscription_disabled",
                    subscription_id=after["_id"],
                    organisation_id=after["organisation_id"],
                    failing_since=str(after["failing_since"]),
                    error=out.error,
                )

    async def disable(self, sub: Document, now: datetime, error: str | None) -> bool:
        """Disable an active subscription and emit ``WebhookSubscriptionDisabled`` in the
        same transaction (the kit's outbox): the event exists exactly when the state
        changed, once (another sender finding it disabled already changes nothing).
        Its id derives from the subscription and its failing streak, so a re-run of the
        transaction emits the same id."""
        failing_since = _aware(sub["failing_since"])
        notice = disabled_notice(
            sub["_id"], sub["organisation_id"], sub["url"], failing_since, now, error
        )

        async def work(uow: UnitOfWork) -> bool:
            if not await uow.repository(Webhooks).disable(sub["_id"], now, notice.reason):
                return False
            uow.emit(notice)
            return True

        cause = f"{sub['_id']}:disabled:{failing_since.isoformat()}"
        return await self.committer.commit(work, cause_id=cause)

    # ------------------------------------------------------------------ the loop
    async def deliver(self, sub: Document, doc: Document, token: str) -> None:
        """POST one delivery; its outcome waits for the next flush (its key stays busy
        until then)."""
        try:
            outcome = await self.post(sub, doc)
        except Exception as exc:
            log.exception("webhook_delivery_failed", delivery_id=doc["_id"])
            outcome = AttemptOutcome(None, 0.0, f"{type(exc).__name__}: {exc}"[:300])
        self.done.append((sub, doc, token, outcome))
        self.wake()

    async def round(self) -> int:
        """Claim and start what may go now; returns how many started."""
        now = self.clock.now()
        s = self.settings
        started = 0
        subs = await repository.active_subscriptions(self.db)
        for sub in subs:
            sub_id = sub["_id"]
            room = min(
                s.per_subscription_in_flight - len(self.in_flight[sub_id]),
                s.max_in_flight - len(self.tasks),
            )
            if room <= 0:
                continue
            ids = await self.heads(sub_id, now, room)
            if not ids:
                continue
            token, docs = await self.claim(ids, now)
            for doc in docs:
                self.in_flight[sub_id].add(doc["key"])
                task = asyncio.create_task(self.deliver(sub, doc, token))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                started += 1
        active = {sub["_id"] for sub in subs}
        for sub_id in [k for k in self.pools if k not in active and not self.in_flight[k]]:
            self._close_later(self.pools.pop(sub_id))
        return started

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        try:
            while not stop.is_set():
                sleep_for = s.poll_seconds
                self._wake.clear()
                try:
                    await self.flush()
                    await self.round()
                except Exception as exc:
                    if is_transient(exc):
                        log.warning("sender_waiting_for_database", error=str(exc)[:200])
                    else:
                        log.exception("sender_round_failed")
                    sleep_for = 1.0
                # A finished delivery wakes the loop; a retry coming due is found by the
                # next poll (at most ``poll_seconds`` late).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=max(sleep_for, 0.005))
                # Let a few more deliveries finish: one flush and one round for all.
                await asyncio.sleep(0.005)
        finally:
            if self.tasks:
                _done, pending = await asyncio.wait(self.tasks, timeout=s.request_timeout_seconds)
                for task in pending:
                    task.cancel()  # its lease runs out; it is sent again
            with contextlib.suppress(Exception):
                await self.flush()
            await self._note_remaining()
            for pool in self.pools.values():
                await pool.aclose()
            self.pools.clear()

    async def _note_remaining(self) -> None:
        """The deliveries counted since the last note, written before stopping."""
        now = self.clock.now()
        for sub_id, count in list(self.delivered_unnoted.items()):
            if count:
                with contextlib.suppress(Exception):
                    await repository.note_successes(self.db, sub_id, now, count, end_streak=False)
        self.delivered_unnoted.clear()


_SENDER = "_webhook_sender"


def attach_sender(runtime: ServiceRuntime, sender: WebhookSender) -> None:
    """Keep the runtime's sender with it (bootstrap), for ``sender_of``."""
    setattr(runtime, _SENDER, sender)


def sender_of(runtime: ServiceRuntime) -> WebhookSender | None:
    """The runtime's sender (the API wakes it after a change; tests drive it), None for
    a runtime bootstrap did not build."""
    sender = getattr(runtime, _SENDER, None)
    return sender if isinstance(sender, WebhookSender) else None
