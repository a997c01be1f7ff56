"""Event and timer handlers: draft a confirmation per (deal, version), schedule it, and
make it due when its time comes. Sending is the sender's job (``sender.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kauppa.confirmation.domain.checklist import checklist
from kauppa.confirmation.domain.confirmation_content import (
    ConfirmationContent,
    confirmation_key,
    from_deal_amended,
    from_deal_closed,
    message_id,
)
from kauppa.confirmation.domain.delivery_attempts import (
    COPY_UNSENT,
    SUPERSEDABLE,
    UNSENT,
    ConfirmationState,
)
from kauppa.confirmation.domain.erasure import ERASED_REASON, anonymise_content, scrub_emails
from kauppa.confirmation.domain.send_policy import SendDecision, decide_send_time
from kauppa.confirmation.policies import PolicyBook
from kauppa.confirmation.repository import CONFIRMATIONS, ERASURES
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.contracts import Envelope, Event
from kauppa.contracts.events.confirmations import ConfirmationFailed, ConfirmationScheduled
from kauppa.contracts.events.deals import DealAmended, DealClosed
from kauppa.contracts.events.privacy import CustomerErased
from kauppa.servicekit.http import cached_replies_update
from kauppa.servicekit.mongo import equals_ignoring_case
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.timers import DueTimer, TimerHandler
from kauppa.servicekit.unit_of_work import IDEMPOTENCY, UnitOfWork
from pymongo import UpdateMany, UpdateOne

Document = dict[str, Any]
SEND_TIMER = "send_confirmation"


def timer_key(deal_id: str, version: int) -> str:
    return f"confirmation-send:{confirmation_key(deal_id, version)}"


def initial_state(content: ConfirmationContent, decision: SendDecision, now: datetime) -> str:
    if content.recipient is None:
        return ConfirmationState.FAILED.value
    if decision.requires_approval:
        return ConfirmationState.AWAITING_APPROVAL.value
    assert decision.send_at is not None
    return (
        ConfirmationState.DUE.value
        if decision.send_at <= now
        else ConfirmationState.SCHEDULED.value
    )


def build_handlers(settings: ConfirmationSettings, policies: PolicyBook) -> Handlers:
    handlers = Handlers()

    async def draft_confirmations(batch: list[Envelope], uow: UnitOfWork) -> None:
        """D11: one confirmation per (deal, version), whatever the redeliveries."""
        contents: list[ConfirmationContent] = []
        allow_http = settings.kafka.profile == "local"
        for env in batch:
            event = env.event
            if isinstance(event, DealClosed):
                contents.append(from_deal_closed(event, allow_http=allow_http))
            else:
                assert isinstance(event, DealAmended)
                contents.append(from_deal_amended(event, allow_http=allow_http))
        # A deal event that arrives after its customer's erasure (another topic, a
        # replay) is drafted already erased: counted, never sent, nothing personal kept.
        erased = {
            d["_id"]
            async for d in uow.db[ERASURES].find(
                {"_id": {"$in": list({c.customer_id for c in contents})}},
                {"_id": 1},
                session=uow.session,
            )
        }
        contents = [anonymise_content(c) if c.customer_id in erased else c for c in contents]
        by_org = await policies.for_organisations(
            uow.db, {c.organisation_id for c in contents}, uow.session
        )
        plans: list[tuple[Envelope, ConfirmationContent, SendDecision, str]] = []
        ops: list[UpdateOne] = []
        for env, content in zip(batch, contents, strict=True):
            policy = by_org[content.organisation_id]
            decision = decide_send_time(
                policy,
                agreed_at=content.agreed_at,
                now=uow.now,
                seller_timezone=content.seller.timezone,
                country=content.customer.country or settings.default_country,
            )
            state = (
                ConfirmationState.ERASED.value
                if content.customer_id in erased
                else initial_state(content, decision, uow.now)
            )
            plans.append((env, content, decision, state))
            document_url = content.summary.signature.document_url
            fetchable = policy.may_fetch(document_url, allow_http=allow_http)
            signed_copy_url = document_url if fetchable else None
            doc: Document = {
                "deal_id": content.deal_id,
                "version": content.version,
                "organisation_id": content.organisation_id,
                "seller_id": content.seller.seller_id,
                "recipient": content.recipient,
                "policy": decision.policy.value,
                "requires_approval": decision.requires_approval,
                "send_at": decision.send_at,
                "state": state,
                "next_attempt_at": decision.send_at if state == "due" else None,
                "message_id": message_id(
                    content.deal_id, content.version, settings.message_id_domain
                ),
                "checklist": checklist(content),
                # Decided when drafted, like the send policy: how the seller gets a copy,
                # and the signed order to fetch and attach (the organisation allows its host).
                "seller_copy": policy.seller_copy.value,
                "signed_copy_url": signed_copy_url,
                "note": None,
                "attempts": 0,
                "content": content.model_dump(mode="json"),
                "created_at": uow.now,
                "caused_by": env.id,
                "correlation_id": env.correlation_id,
                "traceparent": env.traceparent,
            }
            if state == "failed":
                doc.update(failed_at=uow.now, last_error="the customer has no email address")
            elif state == ConfirmationState.ERASED.value:
                doc.update(erased_at=uow.now, erased_from_state=None, last_error=ERASED_REASON)
            ops.append(UpdateOne({"_id": content.key}, {"$setOnInsert": doc}, upsert=True))
        result = await uow.db[CONFIRMATIONS].bulk_write(ops, ordered=True, session=uow.session)
        for index in sorted(result.upserted_ids or {}):
            env, content, decision, state = plans[index]
            if state == ConfirmationState.ERASED.value:
                continue  # nothing to announce or schedule for an erased customer
            if content.replaces_version:
                await supersede_older(uow, content)
            uow.emit(
                ConfirmationScheduled(
                    deal_id=content.deal_id,
                    organisation_id=content.organisation_id,
                    seller_id=content.seller.seller_id,
                    version=content.version,
                    policy=decision.policy,
                    send_at=decision.send_at,
                    requires_approval=decision.requires_approval,
                    checklist=checklist(content),
                    scheduled_at=uow.now,
                ),
                cause=env,
            )
            if state == ConfirmationState.SCHEDULED.value:
                assert decision.send_at is not None
                uow.schedule(
                    timer_key(content.deal_id, content.version),
                    decision.send_at,
                    SEND_TIMER,
                    {"key": content.key},
                )
            elif state == ConfirmationState.FAILED.value:
                uow.emit(
                    ConfirmationFailed(
                        deal_id=content.deal_id,
                        organisation_id=content.organisation_id,
                        seller_id=content.seller.seller_id,
                        version=content.version,
                        reason="the customer has no email address",
                        permanent=True,
                        attempts=0,
                        failed_at=uow.now,
                    ),
                    cause=env,
                )

    drafts_emit: list[type[Event]] = [ConfirmationScheduled, ConfirmationFailed]
    handlers.add(DealClosed, draft_confirmations, emits=drafts_emit)
    handlers.add(DealAmended, draft_confirmations, emits=drafts_emit)

    @handlers.on(CustomerErased)
    async def erase_customers(env: Envelope, uow: UnitOfWork) -> None:
        assert isinstance(env.event, CustomerErased)
        await erase_customer(env.event, uow)

    return handlers


async def erase_customer(event: CustomerErased, uow: UnitOfWork) -> None:
    """GDPR erasure: anonymise every confirmation of the customer (matched by
        ``customer_id``, and by the recipient address within the organisation); versions not
        yet sent become ``erased`` and are never sent. Sent, failed and superseded ones keep
        their state. Idempotent: erased documents carry ``erased_at`` and are not touched
        again; the ``erasures`` record (customer and organisation ids, times: nothing personal,
    not even who asked) stops later deal events."""
    await uow.db[ERASURES].update_one(
        {"_id": event.customer_id},
        {
            "$setOnInsert": {
                "organisation_id": event.organisation_id,
                "erased_at": event.erased_at,
                "recorded_at": uow.now,
            }
        },
        upsert=True,
        session=uow.session,
    )
    who: list[Document] = [{"content.customer_id": event.customer_id}]
    if event.email:
        who.append(
            {
                "organisation_id": event.organisation_id,
                "recipient": equals_ignoring_case(event.email),
            }
        )
    docs = await (
        uow.db[CONFIRMATIONS]
        .find({"$or": who, "erased_at": {"$exists": False}}, session=uow.session)
        .to_list()
    )
    ops: list[UpdateOne] = []
    scrub_replies: list[UpdateMany] = []
    for doc in docs:
        content = anonymise_content(ConfirmationContent.model_validate(doc["content"]))
        lines = checklist(content)
        fields: Document = {
            "content": content.model_dump(mode="json"),
            "recipient": None,
            "note": None,
            "checklist": lines,
            "erased_at": uow.now,
            "erased_from_state": doc["state"],
            "signed_copy_url": None,
        }
        unset: Document = {}
        if doc.get("copy_state") in COPY_UNSENT:  # the seller's copy not sent yet: never
            fields.update(copy_state=ConfirmationState.ERASED.value, copy_next_attempt_at=None)
            unset = {"copy_claimed_by": "", "copy_claim_until": ""}
        if doc["state"] in UNSENT:
            uow.cancel(timer_key(doc["deal_id"], doc["version"]))
            fields.update(
                state=ConfirmationState.ERASED.value,
                next_attempt_at=None,
                last_error=ERASED_REASON,
            )
            unset = {**unset, "claimed_by": "", "claim_until": ""}
        elif doc.get("last_error"):
            fields["last_error"] = scrub_emails(doc["last_error"])
        update: Document = {"$set": fields}
        if unset:
            update["$unset"] = unset
        ops.append(UpdateOne({"_id": doc["_id"]}, update))
        # The kit's Idempotency-Key cache holds review answers (recipient, note).
        scrub_replies.append(
            cached_replies_update(
                {"deal_id": doc["deal_id"], "version": doc["version"]},
                {"recipient": None, "note": None, "checklist": lines},
            )
        )
    if ops:
        await uow.db[CONFIRMATIONS].bulk_write(ops, ordered=True, session=uow.session)
        await uow.db[IDEMPOTENCY].bulk_write(scrub_replies, ordered=False, session=uow.session)


async def supersede_older(uow: UnitOfWork, content: ConfirmationContent) -> None:
    """A newer version replaces older ones not yet handed to the mail server."""
    older = [
        d
        async for d in uow.db[CONFIRMATIONS].find(
            {
                "deal_id": content.deal_id,
                "version": {"$lt": content.version},
                "state": {"$in": [s.value for s in SUPERSEDABLE]},
            },
            {"version": 1},
            session=uow.session,
        )
    ]
    for doc in older:
        uow.cancel(timer_key(content.deal_id, doc["version"]))
    if older:
        await uow.db[CONFIRMATIONS].update_many(
            {"_id": {"$in": [d["_id"] for d in older]}},
            {"$set": {"state": "superseded", "superseded_by": content.version}},
            session=uow.session,
        )


async def make_due(timers: list[DueTimer], uow: UnitOfWork) -> None:
    """The send time has come: scheduled versions become due for the sender. Held,
    superseded or already-approved versions are left as they are."""
    keys = [t.payload["key"] for t in timers]
    await uow.db[CONFIRMATIONS].update_many(
        {"_id": {"$in": keys}, "state": ConfirmationState.SCHEDULED.value},
        {"$set": {"state": ConfirmationState.DUE.value, "next_attempt_at": uow.now}},
        session=uow.session,
    )


TIMER_HANDLERS: dict[str, TimerHandler] = {SEND_TIMER: make_due}
