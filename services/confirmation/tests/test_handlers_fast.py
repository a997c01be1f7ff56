"""The handlers under a ``FakeUnitOfWork`` with an in-memory repository: milliseconds,
no broker, no database (the integration tests run the same code on real infrastructure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kauppa.confirmation.deps import Deps
from kauppa.confirmation.domain.confirmation import SEND_TIMER, timer_key
from kauppa.confirmation.erasure import erase_customer
from kauppa.confirmation.handlers import draft_confirmations, make_due
from kauppa.confirmation.policies import PolicyBook
from kauppa.confirmation.rendering import ConfirmationRenderer
from kauppa.confirmation.repository import Confirmations
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.contracts import envelope, examples
from kauppa.contracts.events.confirmations import ConfirmationScheduled
from kauppa.contracts.events.privacy import CustomerErased
from kauppa.devkit.testing.fake_uow import FakeUnitOfWork
from kauppa.servicekit.timers import DueTimer

from .conftest import amendment
from .memory import InMemoryConfirmations

NOW = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)  # a Wednesday afternoon


def deps(**settings: object) -> Deps:
    s = ConfirmationSettings(**settings)  # type: ignore[arg-type]
    return Deps(s, PolicyBook(s), ConfirmationRenderer())


def unit(repo: InMemoryConfirmations, now: datetime = NOW) -> FakeUnitOfWork:
    return FakeUnitOfWork(now, {Confirmations: repo})


async def test_d11_a_closed_deal_is_drafted_once_and_announced() -> None:
    repo = InMemoryConfirmations()
    deal = examples.deal_closed(closed_at=NOW)
    first = envelope(deal, source="test")
    again = envelope(deal, source="test")  # the same (deal, version) under a new event id
    uow = unit(repo)
    await draft_confirmations([first, again], uow, deps(default_policy="immediate"))
    key = f"{deal.deal_id}:v1"
    assert list(repo.docs) == [key]
    assert repo.state(key).value == "due"
    assert repo.docs[key]["caused_by"] == first.id
    [scheduled] = uow.events
    assert isinstance(scheduled, ConfirmationScheduled) and scheduled.send_at == NOW
    assert uow.timers == []


async def test_d11_next_morning_then_the_timer_makes_it_due() -> None:
    repo = InMemoryConfirmations()
    deal = examples.deal_closed(closed_at=NOW)
    uow = unit(repo)
    await draft_confirmations([envelope(deal, source="test")], uow, deps())
    key = f"{deal.deal_id}:v1"
    [timer] = uow.timers
    assert (timer.key, timer.kind, timer.payload) == (
        timer_key(deal.deal_id, 1),
        SEND_TIMER,
        {"key": key},
    )
    assert timer.due_at is not None
    morning = timer.due_at
    fired = DueTimer(timer.key, SEND_TIMER, morning, {"key": key}, morning)
    await make_due([fired], unit(repo, morning), deps())
    assert repo.state(key).value == "due"
    assert repo.docs[key]["next_attempt_at"] == morning


async def test_an_amendment_supersedes_the_unsent_older_version() -> None:
    repo = InMemoryConfirmations()
    deal = examples.deal_closed(closed_at=NOW)
    await draft_confirmations([envelope(deal, source="test")], unit(repo), deps())
    uow = unit(repo, NOW + timedelta(minutes=5))
    await draft_confirmations([envelope(amendment(deal, 2), source="test")], uow, deps())
    assert repo.state(f"{deal.deal_id}:v1").value == "superseded"
    assert repo.docs[f"{deal.deal_id}:v1"]["superseded_by"] == 2
    cancel, arm = uow.timers
    assert cancel.cancel and cancel.key == timer_key(deal.deal_id, 1)
    assert arm.key == timer_key(deal.deal_id, 2) and not arm.cancel


async def test_gdpr_erasure_erases_unsent_and_later_deals_arrive_erased() -> None:
    repo = InMemoryConfirmations()
    deal = examples.deal_closed(closed_at=NOW)
    await draft_confirmations([envelope(deal, source="test")], unit(repo), deps())
    erased = CustomerErased(
        customer_id=deal.customer_id,
        organisation_id=deal.organisation_id,
        requested_by="privacy-desk",
        erased_at=NOW,
    )
    uow = unit(repo)
    await erase_customer(envelope(erased, source="test"), uow, deps())
    key = f"{deal.deal_id}:v1"
    assert repo.state(key).value == "erased" and repo.docs[key]["recipient"] is None
    assert [t.cancel for t in uow.timers] == [True]
    assert repo.scrubbed == [key]
    later = unit(repo)
    await draft_confirmations([envelope(amendment(deal, 2), source="test")], later, deps())
    assert repo.state(f"{deal.deal_id}:v2").value == "erased"
    assert later.events == [] and later.timers == []
