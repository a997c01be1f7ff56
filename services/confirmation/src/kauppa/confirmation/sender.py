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

The claim and lease queries are the repository's (``SenderQueue``); what an attempt's
outcome does to a version is the ``Confirmation`` aggregate's (``record_sent``,
``record_failed``, ``retry_later``, ``seller_copy_sent``...).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import datetime, timedelta
from functools import partial

from kauppa.confirmation.document import pdf_file_name, render_pdf
from kauppa.confirmation.domain.confirmation import Confirmation
from kauppa.confirmation.domain.confirmation_content import ConfirmationContent
from kauppa.confirmation.domain.delivery_attempts import (
    AttemptVerdict,
    ConfirmationState,
    SmtpOutcome,
    judge_attempt,
)
from kauppa.confirmation.domain.send_policy import SellerCopy
from kauppa.confirmation.domain.wording import Wording
from kauppa.confirmation.mailer import Attachment, OutgoingEmail, SmtpMailer, build_email
from kauppa.confirmation.rendering import ConfirmationRenderer
from kauppa.confirmation.repository import (
    CUSTOMER,
    SELLER_COPY,
    Confirmations,
    Document,
    SenderQueue,
    Track,
    from_document,
)
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
from pymongo.asynchronous.database import AsyncDatabase

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
        self.queue = SenderQueue(db, self.owner)
        self.lease = timedelta(seconds=settings.sender_lease_seconds)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ 1. claim
    async def claim(self, track: Track = CUSTOMER) -> tuple[str, list[Document]]:
        now = self.clock.now()
        token, won = await self.queue.claim(
            track, now, now + self.clock.span(self.lease), self.settings.sender_batch
        )
        resumed = sum(1 for d in won if d.get(track("resumed")))
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
    def _retry_at(self, now: datetime, verdict: AttemptVerdict) -> datetime:
        return now + self.clock.span(verdict.retry_in) if verdict.retry_in else now

    def _judge(self, outcome: SmtpOutcome, attempts: int) -> AttemptVerdict:
        s = self.settings
        base, cap = timedelta(seconds=s.retry_base_seconds), timedelta(seconds=s.retry_max_seconds)
        return judge_attempt(outcome, attempts, s.max_attempts, base, cap)

    async def record(self, token: str, docs: list[Document], outcomes: list[SmtpOutcome]) -> None:
        """The customers' mails, in one transaction with their events: sent
        (``ConfirmationSent``), due again later, or failed (``ConfirmationFailed``)."""
        by_id = {d["_id"]: o for d, o in zip(docs, outcomes, strict=True)}

        async def work(uow: UnitOfWork) -> None:
            repo = uow.repository(Confirmations)
            current = {c.key: c for c in await repo.get_many(list(by_id))}
            recorded: list[Confirmation] = []
            for key, outcome in by_id.items():
                confirmation = current.get(key)
                if confirmation is None or confirmation.state is not ConfirmationState.SENDING:
                    continue  # another sender already recorded it
                if not outcome.accepted and confirmation.get("claimed_by") != token:
                    continue  # our lease ran out; the new holder decides
                verdict = self._judge(outcome, int(confirmation.get("attempts", 1)))
                effects = confirmation.record_attempt(
                    verdict, outcome.reason, now=uow.now, retry_at=self._retry_at(uow.now, verdict)
                )
                for event in effects.events:
                    _emit_caused(uow, event, confirmation)
                recorded.append(confirmation)
                self._count(verdict)
            await repo.save(recorded)

        await self.committer.commit(work)

    def _count(self, verdict: AttemptVerdict) -> None:
        m = self.metrics
        if verdict.state is ConfirmationState.SENT:
            m.sent.labels(m.service).inc()
        elif verdict.state is ConfirmationState.FAILED:
            m.failed.labels(m.service, str(verdict.failed_permanently).lower()).inc()
        else:
            m.retries.labels(m.service).inc()

    async def record_copies(
        self, token: str, docs: list[Document], outcomes: list[SmtpOutcome]
    ) -> None:
        """The seller's separate copies: sent, due again later, or failed. Nothing is
        emitted (the copy is the seller's, not an event of the deal); the document keeps
        ``copy_state``, ``copy_attempts``, ``copy_sent_at`` or ``copy_last_error``."""
        now = self.clock.now()
        recorded: list[tuple[Confirmation, bool]] = []
        for doc, outcome in zip(docs, outcomes, strict=True):
            confirmation = from_document(doc)
            verdict = self._judge(outcome, int(doc.get("copy_attempts", 1)))
            confirmation.record_attempt(
                verdict,
                outcome.reason,
                now=now,
                retry_at=self._retry_at(now, verdict),
                seller_copy=True,
            )
            if verdict.state is ConfirmationState.SENT:
                self.metrics.seller_copies.labels(self.metrics.service, "sent").inc()
            elif verdict.state is ConfirmationState.FAILED:
                self.metrics.seller_copies.labels(self.metrics.service, "failed").inc()
            recorded.append((confirmation, outcome.accepted))
        await self.queue.record_copies(token, recorded)

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
        return await self.queue.next_due()

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


def _emit_caused(uow: UnitOfWork, event: Event, confirmation: Confirmation) -> None:
    """The deal event that asked for this version: the outcome event continues its
    correlation and gets an id derived from it (one ``ConfirmationSent`` id per version,
    even if recording were ever repeated)."""
    cause_id = confirmation.get("caused_by") or confirmation.key
    cause = Envelope(
        event=event,
        id=str(cause_id),
        source="kauppa/confirmation",
        time=confirmation.get("created_at"),
        correlation_id=str(confirmation.get("correlation_id") or cause_id),
        traceparent=confirmation.get("traceparent"),
    )
    uow.emit(event, cause=cause)
