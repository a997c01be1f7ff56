"""The sender: takes due confirmations and sends them over SMTP, outside any transaction.

One round, three steps, each its own write:

1. ``claim``: due (or abandoned ``sending``) versions become ``sending`` under a lease
   token; the attempt is recorded (attempt count, first-attempt time that dates the
   email; the Message-ID is deterministic per (deal, version)).
2. ``deliver``: render and send over SMTP. No database transaction is open.
3. ``record``: ONE transaction marks them sent (and emits ``ConfirmationSent``), or due
   again later with backoff (4xx, refused connection), or failed (5xx, retries
   exhausted; emits ``ConfirmationFailed``), through the kit's committer (outbox).

A crash between 1 and 3 leaves the version ``sending``; when the lease ends, a sender
(this or another replica) claims it again and resends with the same Message-ID. That
is the one window where the customer can receive the email twice (see README).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from kauppa.confirmation.domain.confirmation_content import ConfirmationContent
from kauppa.confirmation.domain.delivery_attempts import (
    ConfirmationState,
    SmtpOutcome,
    judge_attempt,
)
from kauppa.confirmation.mailer import OutgoingEmail, SmtpMailer, build_email
from kauppa.confirmation.rendering import ConfirmationRenderer
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.confirmation.storage import CONFIRMATIONS
from kauppa.contracts import Envelope, Event
from kauppa.contracts.events.confirmations import ConfirmationFailed, ConfirmationSent
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.committer import Committer
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.mongo import is_transient
from kauppa.servicekit.unit_of_work import UnitOfWork
from prometheus_client import CollectorRegistry, Counter, Histogram
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
log = get_logger(__name__)
# What the sender loop emits (the runtime's ``emits``: in the AsyncAPI sends).
SENDER_EMITS = (ConfirmationSent, ConfirmationFailed)


class SenderMetrics:
    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.service = service
        self.sent = Counter(
            "kauppa_confirmations_sent_total",
            "Confirmations accepted by the SMTP server",
            ["service"],
            registry=registry,
        )
        self.failed = Counter(
            "kauppa_confirmations_failed_total",
            "Confirmations given up on, by permanence",
            ["service", "permanent"],
            registry=registry,
        )
        self.retries = Counter(
            "kauppa_confirmation_smtp_transient_failures_total",
            "Transient SMTP failures (4xx, connection trouble) that will be retried",
            ["service"],
            registry=registry,
        )
        self.resumed = Counter(
            "kauppa_confirmation_interrupted_attempts_total",
            "Attempts resumed after a crash or lost lease (possible duplicate, same Message-ID)",
            ["service"],
            registry=registry,
        )
        self.round_seconds = Histogram(
            "kauppa_confirmation_send_round_seconds",
            "Claim, SMTP delivery and record for one batch",
            ["service"],
            registry=registry,
        )


class ConfirmationSender:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        committer: Committer,
        clock: Clock,
        settings: ConfirmationSettings,
        metrics: SenderMetrics,
        renderer: ConfirmationRenderer,
        mailer: SmtpMailer,
    ) -> None:
        self.db, self.committer, self.clock, self.settings = db, committer, clock, settings
        self.metrics, self.renderer, self.mailer = metrics, renderer, mailer
        self.owner = f"sender-{uuid.uuid4().hex[:12]}"
        self.lease = timedelta(seconds=settings.sender_lease_seconds)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ 1. claim
    async def claim(self) -> tuple[str, list[Document]]:
        now = self.clock.now()
        claimable = {
            "$or": [
                {"state": ConfirmationState.DUE.value, "next_attempt_at": {"$lte": now}},
                {"state": ConfirmationState.SENDING.value, "claim_until": {"$lt": now}},
            ]
        }
        ids = [
            d["_id"]
            async for d in self.db[CONFIRMATIONS]
            .find(claimable, {"_id": 1})
            .sort("next_attempt_at", ASCENDING)
            .limit(self.settings.sender_batch)
        ]
        if not ids:
            return "", []
        token = f"{self.owner}-{uuid.uuid4().hex[:8]}"
        was_sending = {"$eq": ["$state", ConfirmationState.SENDING.value]}
        await self.db[CONFIRMATIONS].update_many(
            {"_id": {"$in": ids}, **claimable},
            [
                {
                    "$set": {
                        "state": ConfirmationState.SENDING.value,
                        "claimed_by": token,
                        "claim_until": now + self.clock.span(self.lease),
                        "attempts": {"$add": [{"$ifNull": ["$attempts", 0]}, 1]},
                        "first_attempt_at": {"$ifNull": ["$first_attempt_at", now]},
                        "interrupted_attempts": {
                            "$add": [
                                {"$ifNull": ["$interrupted_attempts", 0]},
                                {"$cond": [was_sending, 1, 0]},
                            ]
                        },
                        "resumed": was_sending,
                        "last_attempt_at": now,
                    }
                }
            ],
        )
        won = await self.db[CONFIRMATIONS].find({"claimed_by": token}).to_list()
        resumed = sum(1 for d in won if d.get("resumed"))
        if resumed:
            self.metrics.resumed.labels(self.metrics.service).inc(resumed)
            log.warning("confirmation_attempt_resumed", count=resumed)
        return token, won

    # ------------------------------------------------------------------ 2. deliver
    def email_for(self, doc: Document) -> OutgoingEmail:
        content = ConfirmationContent.model_validate(doc["content"])
        rendered = self.renderer.render(content, doc.get("note"))
        return build_email(
            content,
            rendered,
            from_address=self.settings.from_address,
            domain=self.settings.message_id_domain,
            dated=doc["first_attempt_at"],
        )

    async def deliver(self, docs: list[Document]) -> list[SmtpOutcome]:
        return await self.mailer.send_all([partial(self.email_for, doc) for doc in docs])

    # ------------------------------------------------------------------ 3. record
    async def record(self, token: str, docs: list[Document], outcomes: list[SmtpOutcome]) -> None:
        s = self.settings
        base, cap = timedelta(seconds=s.retry_base_seconds), timedelta(seconds=s.retry_max_seconds)
        by_id = {d["_id"]: o for d, o in zip(docs, outcomes, strict=True)}

        async def work(uow: UnitOfWork) -> None:
            current = {
                d["_id"]: d
                async for d in uow.db[CONFIRMATIONS].find(
                    {"_id": {"$in": list(by_id)}}, session=uow.session
                )
            }
            ops: list[UpdateOne] = []
            for key, outcome in by_id.items():
                doc = current.get(key)
                if doc is None or doc["state"] != ConfirmationState.SENDING.value:
                    continue  # another sender already recorded it
                if not outcome.accepted and doc.get("claimed_by") != token:
                    continue  # our lease ran out; the new holder decides
                attempts = int(doc.get("attempts", 1))
                verdict = judge_attempt(outcome, attempts, s.max_attempts, base, cap)
                content = ConfirmationContent.model_validate(doc["content"])
                unset = {"claimed_by": "", "claim_until": ""}
                if verdict.state is ConfirmationState.SENT:
                    ops.append(_set(key, {"state": "sent", "sent_at": uow.now}, unset))
                    _emit_caused(
                        uow,
                        ConfirmationSent(
                            deal_id=content.deal_id,
                            organisation_id=content.organisation_id,
                            seller_id=content.seller.seller_id,
                            version=content.version,
                            message_id=doc["message_id"],
                            replaces_version=content.replaces_version,
                            closed_at=content.agreed_at,
                            sent_at=uow.now,
                        ),
                        doc,
                    )
                    self.metrics.sent.labels(self.metrics.service).inc()
                elif verdict.state is ConfirmationState.FAILED:
                    reason = outcome.reason or "failed"
                    if not verdict.failed_permanently:
                        reason = f"retries exhausted after {attempts} attempts: {reason}"
                    ops.append(
                        _set(
                            key,
                            {"state": "failed", "failed_at": uow.now, "last_error": reason},
                            unset,
                        )
                    )
                    _emit_caused(
                        uow,
                        ConfirmationFailed(
                            deal_id=content.deal_id,
                            organisation_id=content.organisation_id,
                            seller_id=content.seller.seller_id,
                            version=content.version,
                            reason=reason,
                            permanent=verdict.failed_permanently,
                            attempts=attempts,
                            failed_at=uow.now,
                        ),
                        doc,
                    )
                    self.metrics.failed.labels(
                        self.metrics.service, str(verdict.failed_permanently).lower()
                    ).inc()
                else:
                    assert verdict.retry_in is not None
                    ops.append(
                        _set(
                            key,
                            {
                                "state": "due",
                                "next_attempt_at": uow.now + self.clock.span(verdict.retry_in),
                                "last_error": outcome.reason,
                            },
                            unset,
                        )
                    )
                    self.metrics.retries.labels(self.metrics.service).inc()
            if ops:
                await uow.db[CONFIRMATIONS].bulk_write(ops, session=uow.session)

        await self.committer.commit(work)

    # ------------------------------------------------------------------ the loop
    async def send_due(self) -> int:
        """One round: claim, deliver, record. Returns how many were attempted."""
        started = time.perf_counter()
        token, docs = await self.claim()
        if not docs:
            return 0
        outcomes = await self.deliver(docs)
        await self.record(token, docs, outcomes)
        self.metrics.round_seconds.labels(self.metrics.service).observe(
            time.perf_counter() - started
        )
        return len(docs)

    async def next_due(self) -> datetime | None:
        doc = await self.db[CONFIRMATIONS].find_one(
            {"state": ConfirmationState.DUE.value},
            {"next_attempt_at": 1},
            sort=[("next_attempt_at", ASCENDING)],
        )
        return doc["next_attempt_at"] if doc else None

    async def run(self, stop: asyncio.Event) -> None:
        poll = self.settings.sender_poll_seconds
        while not stop.is_set():
            sleep_for = poll
            try:
                while await self.send_due() >= self.settings.sender_batch and not stop.is_set():
                    pass
                nxt = await self.next_due()
                if nxt is not None:
                    sleep_for = min(max(self.clock.real_seconds(nxt - self.clock.now()), 0), poll)
            except Exception as exc:
                if is_transient(exc):
                    log.warning("sender_waiting_for_database", error=str(exc)[:200])
                else:
                    log.exception("sender_round_failed")
                sleep_for = 1.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=sleep_for)


def _set(key: str, fields: Document, unset: Document) -> UpdateOne:
    return UpdateOne({"_id": key}, {"$set": fields, "$unset": unset})


def _emit_caused(uow: UnitOfWork, event: Event, doc: Document) -> None:
    """The deal event that asked for this version: the outcome event continues its
    correlation and gets an id derived from it (one ``ConfirmationSent`` id per version,
    even if recording were ever repeated)."""
    cause_id = doc.get("caused_by") or doc["_id"]
    cause = Envelope(
        event=event,
        id=str(cause_id),
        source="kauppa/confirmation",
        time=doc["created_at"],
        correlation_id=str(doc.get("correlation_id") or cause_id),
        traceparent=doc.get("traceparent"),
    )
    uow.emit(event, cause=cause)
