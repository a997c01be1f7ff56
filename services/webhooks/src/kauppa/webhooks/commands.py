"""What the HTTP API does to subscriptions and deliveries, each in the unit of work the
API's ``idempotent_command`` runs it in, raising refusals (``servicekit.refusals``: the
kit's HTTP edge answers them) and returning the answer's body."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from kauppa.servicekit.auth import Principal, visible_to
from kauppa.servicekit.refusals import Invalid, NotFound
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import UnitOfWork
from kauppa.webhooks.domain import signing
from kauppa.webhooks.domain.targets import TargetRefused, check_addresses, check_url
from kauppa.webhooks.repository import Webhooks
from kauppa.webhooks.settings import WebhooksSettings

_SUB_FIELDS = (
    "organisation_id",
    "url",
    "description",
    "event_types",
    "filters",
    "state",
    "created_at",
    "created_by",
    "failing_since",
    "last_success_at",
    "last_failure_at",
    "last_error",
    "disabled_at",
    "disabled_reason",
)


def sub_view(doc: Document) -> Document:
    """A subscription as the API shows it: without its secrets' values."""
    out = {"subscription_id": doc["_id"], **{k: doc.get(k) for k in _SUB_FIELDS}}
    out["secrets"] = [
        {"created_at": s.get("created_at"), "expires_at": s.get("expires_at")}
        for s in doc.get("secrets", [])
    ]
    return out


async def check_target(settings: WebhooksSettings, url: str) -> None:
    """Refuse a URL that may not be a target (``Invalid``), resolving its host in the
    production profile (the sender checks again before every attempt)."""
    from kauppa.webhooks.sender import resolve

    try:
        host = check_url(url, local=settings.local)
        if not settings.local:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                addresses = await resolve(host, port)
            except OSError as exc:
                raise TargetRefused(f"{host} does not resolve: {exc}") from exc
            check_addresses(host, addresses, local=False)
    except (TargetRefused, ValueError) as exc:
        raise Invalid(f"url refused: {exc}") from exc


async def load(uow: UnitOfWork, principal: Principal, sub_id: str) -> Document:
    """The subscription, if the caller's organisation may see it (else: none such)."""
    doc = await uow.repository(Webhooks).subscription(sub_id)
    if doc is None:
        raise NotFound("no such subscription")
    visible_to(principal, doc["organisation_id"], "subscription")
    return doc


async def create_subscription(
    uow: UnitOfWork,
    principal: Principal,
    organisation_id: str | None,
    fields: Document,
    *,
    active: bool,
) -> Document:
    """A new subscription (``fields``: url, description, event types, filters) with a
    fresh signing secret, shown in this answer only."""
    secret = signing.new_secret()
    doc: Document = {
        "_id": f"whsub_{uuid.uuid4().hex[:20]}",
        "organisation_id": organisation_id,
        **fields,
        "state": "active" if active else "paused",
        "secrets": [{"secret": secret, "created_at": uow.now, "expires_at": None}],
        "created_at": uow.now,
        "created_by": principal.subject,
    }
    await uow.repository(Webhooks).add_subscription(doc)
    return {**sub_view(doc), "secret": secret, "_status": 201}


async def rotate_secret(
    uow: UnitOfWork, principal: Principal, sub_id: str, overlap_hours: float
) -> Document:
    """A new secret; the old ones keep signing until the overlap ends (one already out
    of its overlap is dropped)."""
    doc = await load(uow, principal, sub_id)
    until = uow.now + timedelta(hours=overlap_hours)
    kept = []
    for s in doc.get("secrets", []):
        expires = s.get("expires_at")
        if expires is not None and expires.replace(tzinfo=expires.tzinfo or UTC) <= uow.now:
            continue  # already out of its overlap
        kept.append({**s, "expires_at": min(expires, until) if expires else until})
    secret = signing.new_secret()
    kept.append({"secret": secret, "created_at": uow.now, "expires_at": None})
    await uow.repository(Webhooks).set_secrets(sub_id, kept)
    return {**sub_view({**doc, "secrets": kept}), "secret": secret}


async def set_state(uow: UnitOfWork, principal: Principal, sub_id: str, state: str) -> Document:
    """Pause or activate; activating also re-enables a disabled subscription and makes
    what waited due now."""
    doc = await load(uow, principal, sub_id)
    repo = uow.repository(Webhooks)
    change: Document = {"state": state}
    unset: Document = {}
    if state == "active":
        unset = {"failing_since": "", "disabled_at": "", "disabled_reason": ""}
        await repo.send_waiting_now(sub_id)
    await repo.set_state(sub_id, change, unset)
    return sub_view({**doc, **change, **dict.fromkeys(unset)})


async def redeliver_one(
    uow: UnitOfWork, principal: Principal, sub_id: str, delivery_id: str
) -> Document:
    await load(uow, principal, sub_id)
    if not await uow.repository(Webhooks).redeliver_one(sub_id, delivery_id):
        raise NotFound("no such delivery, or it is being delivered now")
    return {"delivery_id": delivery_id, "redelivering": 1}


def check_range(since: datetime, until: datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise Invalid("since and until need a timezone")


async def redeliver_range(
    uow: UnitOfWork,
    principal: Principal,
    sub_id: str,
    since: datetime,
    until: datetime,
    *,
    only_failed: bool,
) -> Document:
    await load(uow, principal, sub_id)
    count = await uow.repository(Webhooks).redeliver_range(
        sub_id, since, until, only_failed=only_failed
    )
    return {"subscription_id": sub_id, "redelivering": count}
