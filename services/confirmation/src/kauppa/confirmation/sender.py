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

Each email carries the confirmation as a PDF (``document.py``) and, where the
organisation allowed its host, the signed order fetched at send time
(``signed_copy.py``). The seller's copy: ``bcc`` rides on the customer's mail;
``separate`` is its own track (``copy_*`` fields) with the same three steps, started
only when the customer's send is recorded, so a crash in the customer's window never
repeats it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from kauppa.confirmation.document import pdf_file_name, render_pdf
from kauppa.confirmation.domain.confirmation_content import ConfirmationContent
from kauppa.confirmation.domain.delivery_attempts import (
    ConfirmationState,
    SmtpOutcome,
    judge_attempt,
)
from kauppa.confirmation.domain.send_policy import SellerCopy
from kauppa.confirmation.domain.wording import Wording
from kauppa.confirmation.mailer import Attachment, OutgoingEmail, SmtpMailer, build_email
from kauppa.confirmation.rendering import ConfirmationRenderer
from kauppa.confirmation.repository import CONFIRMATIONS
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.confirmation.signed_copy import SignedCopyFetcher
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
        self.seller_copies = Counter(
            "kauppa_confirmation_seller_copies_total",
            "The seller's separate copies, by outcome (sent, failed)",
            ["service", "outcome"],
            registry=registry,
        )
        self.round_seconds = Histogram(
            "kauppa_confirmation_send_round_seconds",
            "Claim, SMTP delivery and record for one batch",
            ["service"],
            registry=registry,
        )


@dataclass(frozen=True)
class Track:
    """The fields one delivery track keeps in a confirmation document: the customer's
    mail (no prefix) or the seller's separate copy (``copy_``)."""

    prefix: str

    def __call__(self, name: str) -> str:
        return self.prefix + name


CUSTOMER = Track("")
SELLER_COPY = Track("copy_")


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
        fetcher: SignedCopyFetcher,
    ) -> None:
        self.db, self.committer, self.clock, self.settings = db, committer, clock, settings
        self.metrics, self.renderer, self.mailer = metrics, renderer, mailer
        self.fetcher = fetcher
        self.owner = f"sender-{uuid.uuid4().hex[:12]}"
        self.lease = timedelta(seconds=settings.sender_lease_seconds)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ 1. claim
    async def claim(self, track: Track = CUSTOMER) -> tuple[str, list[Document]]:
        now = self.clock.now()
        f = track
        claimable = {
            "$or": [
                {f("state"): ConfirmationState.DUE.value, f("next_attempt_at"): {"$lte": now}},
                {f("state"): ConfirmationState.SENDING.value, f("claim_until"): {"$lt": now}},
            ]
        }
        ids = [
            d["_id"]
            async for d in self.db[CONFIRMATIONS]
            .find(claimable, {"_id": 1})
            .sort(f("next_attempt_at"), ASCENDING)
            .limit(self.settings.sender_batch)
        ]
        if not ids:
            return "", []
        token = f"{self.owner}-{uuid.uuid4().hex[:8]}"
        was_sending = {"$eq": [f"${f('state')}", ConfirmationState.SENDING.value]}
        await self.db[CONFIRMATIONS].update_many(
            {"_id": {"$in": ids}, **claimable},
            [
                {
                    "$set": {
                        f("state"): ConfirmationState.SENDING.value,
                        f("claimed_by"): token,
                        f("claim_until"): now + self.clock.span(self.lease),
                        f("attempts"): {"$add": [{"$ifNull": [f"${f('attempts')}", 0]}, 1]},
                        f("first_attempt_at"): {"$ifNull": [f"${f('first_attempt_at')}", now]},
                        f("interrupted_attempts"): {
                            "$add": [
                                {"$ifNull": [f"${f('interrupted_attempts')}", 0]},
                                {"$cond": [was_sending, 1, 0]},
                            ]
                        },
                        f("resumed"): was_sending,
                        f("last_attempt_at"): now,
                    }
                }
            ],
        )
        won = await self.db[CONFIRMATIONS].find({f("claimed_by"): token}).to_list()
        resumed = sum(1 for d in won if d.get(f("resumed")))
        if resumed:
            self.metrics.resumed.labels(self.metrics.service).inc(resumed)
            log.warning("confirmation_attempt_resumed", count=resumed)
        return token, won

    # ------------------------------------------------------------------ 2. deliver
    def email_for(
        self, doc: Document, signed: bytes | None = None, track: Track = CUSTOMER
    ) -> OutgoingEmail:
        """The email of one version: HTML and text, the PDF of the same content and,
        if fetched, the signed order. Deterministic but for the MIME boundaries."""
        content = ConfirmationContent.model_validate(doc["content"])
        note = doc.get("note")
        rendered = self.renderer.render(content, note)
        attachments = [Attachment(pdf_file_name(content), render_pdf(content, note))]
        if signed is not None:
            name = pdf_file_name(content).replace(".pdf", "-signed.pdf")
            attachments.append(Attachment(name, signed))
        copy = track is SELLER_COPY
        bcc = [content.seller.email] if doc.get("seller_copy") == SellerCopy.BCC.value else []
        return build_email(
            content,
            rendered,
            from_address=self.settings.from_address,
            domain=self.settings.message_id_domain,
            dated=doc[track("first_attempt_at")],
            attachments=attachments,
            bcc=[] if copy else bcc,
            copy_label=Wording(content.customer.locale)("seller_copy") if copy else None,
        )

    async def deliver(self, docs: list[Document], track: Track = CUSTOMER) -> list[SmtpOutcome]:
        fetch = self.fetcher.fetch
        signed = await asyncio.gather(
            *(fetch(d["signed_copy_url"]) if d.get("signed_copy_url") else _none() for d in docs)
        )
        return await self.mailer.send_all(
            [partial(self.email_for, doc, s, track) for doc, s in zip(docs, signed, strict=True)]
        )

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
                    sent: Document = {"state": "sent", "sent_at": uow.now}
                    copy = doc.get("seller_copy")
                    if copy == SellerCopy.SEPARATE.value and content.seller.email:
                        sent.update(copy_state="due", copy_next_attempt_at=uow.now)
                    elif copy == SellerCopy.BCC.value:  # it went with this very message
                        sent.update(copy_state="sent", copy_sent_at=uow.now)
                    ops.append(_set(key, sent, unset))
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

    async def record_copies(
        self, token: str, docs: list[Document], outcomes: list[SmtpOutcome]
    ) -> None:
        """The seller's separate copies: sent, due again later, or failed. Nothing is
        emitted (the copy is the seller's, not an event of the deal); the document keeps
        ``copy_state``, ``copy_attempts``, ``copy_sent_at`` or ``copy_last_error``."""
        s = self.settings
        base, cap = timedelta(seconds=s.retry_base_seconds), timedelta(seconds=s.retry_max_seconds)
        ops: list[UpdateOne] = []
        unset = {"copy_claimed_by": "", "copy_claim_until": ""}
        now = self.clock.now()
        for doc, outcome in zip(docs, outcomes, strict=True):
            mine: Document = {"_id": doc["_id"], "copy_state": ConfirmationState.SENDING.value}
            if not outcome.accepted:
                mine["copy_claimed_by"] = token  # our lease ran out: the new holder decides
            attempts = int(doc.get("copy_attempts", 1))
            verdict = judge_attempt(outcome, attempts, s.max_attempts, base, cap)
            fields: Document
            if verdict.state is ConfirmationState.SENT:
                fields = {"copy_state": "sent", "copy_sent_at": now}
                self.metrics.seller_copies.labels(self.metrics.service, "sent").inc()
            elif verdict.state is ConfirmationState.FAILED:
                fields = {"copy_state": "failed", "copy_last_error": outcome.reason or "failed"}
                self.metrics.seller_copies.labels(self.metrics.service, "failed").inc()
            else:
                assert verdict.retry_in is not None
                fields = {
                    "copy_state": "due",
                    "copy_next_attempt_at": now + self.clock.span(verdict.retry_in),
                    "copy_last_error": outcome.reason,
                }
            ops.append(UpdateOne(mine, {"$set": fields, "$unset": unset}))
        if ops:
            await self.db[CONFIRMATIONS].bulk_write(ops, ordered=False)

    # ------------------------------------------------------------------ the loop
    async def send_due(self) -> int:
        """One round: claim, deliver, record, for the customers' mails and then for the
        sellers' separate copies. Returns how many were attempted."""
        started = time.perf_counter()
        attempted = 0
        token, docs = await self.claim()
        if docs:
            await self.record(token, docs, await self.deliver(docs))
            attempted += len(docs)
        token, copies = await self.claim(SELLER_COPY)
        if copies:
            await self.record_copies(token, copies, await self.deliver(copies, SELLER_COPY))
            attempted += len(copies)
        if attempted:
            self.metrics.round_seconds.labels(self.metrics.service).observe(
                time.perf_counter() - started
            )
        return attempted

    async def next_due(self) -> datetime | None:
        times = []
        for f in (CUSTOMER, SELLER_COPY):
            doc = await self.db[CONFIRMATIONS].find_one(
                {f("state"): ConfirmationState.DUE.value},
                {f("next_attempt_at"): 1},
                sort=[(f("next_attempt_at"), ASCENDING)],
            )
            if doc is not None and doc.get(f("next_attempt_at")) is not None:
                times.append(doc[f("next_attempt_at")])
        return min(times) if times else None

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


async def _none() -> None:
    return None


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
