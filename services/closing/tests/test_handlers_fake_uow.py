"""Handlers and a command under ``FakeUnitOfWork`` with in-memory repositories: what they
load, save, emit and arm, in milliseconds (the same code runs on the real broker and
mongod in the integration tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kauppa.closing import commands
from kauppa.closing.commands import Deps
from kauppa.closing.domain.close_summary import CloseTerms
from kauppa.closing.domain.deal import CloseRefused, stale_timer_key
from kauppa.closing.handlers import EVENTS, open_deals, remind_stale_deals
from kauppa.closing.repository import Deals, Directory
from kauppa.closing.settings import ClosingSettings, SalesProcessConfig
from kauppa.contracts import (
    DealClosed,
    DealOpened,
    LeadAccepted,
    StaleDealReminder,
    envelope,
    examples,
)
from kauppa.devkit.testing.fake_uow import FakeUnitOfWork
from kauppa.servicekit.auth import Principal
from kauppa.servicekit.routes import handlers_from
from kauppa.servicekit.timers import DueTimer
from kauppa.servicekit.unit_of_work import Preparation

from .conftest import lead_accepted
from .memory import InMemoryDeals, InMemoryDirectory
from .test_domain_close_summary import complete_terms
from .test_domain_deal import a_deal

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SETTINGS = ClosingSettings()
DEPS = Deps(settings=SETTINGS, default_process=SETTINGS.default_process())
PREPARE = handlers_from(EVENTS, DEPS).prepares[LeadAccepted.ce_type()]
SELLER = Principal("seller-1", frozenset({"seller"}), "org-1")


def fake(deals: InMemoryDeals, directory: InMemoryDirectory | None = None) -> FakeUnitOfWork:
    return FakeUnitOfWork(NOW, {Deals: deals, Directory: directory or InMemoryDirectory()})


async def test_d5_an_accepted_lead_opens_one_deal_at_the_organisations_first_stage():
    own = SalesProcessConfig(stages=["intro", "closing"])
    deals, directory = InMemoryDeals(), InMemoryDirectory(processes={"org-own": own})
    envs = [
        envelope(lead_accepted(lead_id="lead-1", organisation_id="org-1"), source="t"),
        envelope(lead_accepted(lead_id="lead-2", organisation_id="org-own"), source="t"),
    ]
    envs.append(envelope(envs[0].event, source="t"))  # the same acceptance, a new event id
    uow = fake(deals, directory)
    prep = Preparation("test", NOW)
    for env in envs:
        prep.run(PREPARE, env)
    uow.adopt(prep)

    await open_deals(envs, uow, DEPS)

    assert [type(e) for e in uow.events] == [DealOpened, DealOpened]
    assert deals.deals["deal-lead-1"].stage == "qualified"
    assert deals.deals["deal-lead-2"].stage == "intro"  # built afresh: not the prepared one
    assert deals.history["deal-lead-1"] == ["DealOpened"]
    assert [(t.key, t.new) for t in uow.timers] == [
        (stale_timer_key("deal-lead-1"), True),
        (stale_timer_key("deal-lead-2"), True),
    ]
    assert uow.timers[0].due_at == NOW + timedelta(days=14)


async def test_a_customer_erased_before_the_deal_opens_is_left_out_of_it():
    deals = InMemoryDeals()
    env = envelope(lead_accepted(lead_id="lead-9", organisation_id="org-1"), source="t")
    prep = Preparation("test", NOW)
    prep.run(PREPARE, env)
    deals.tombstones.add(("org-1", prep.plans[env.id].opened.customer_id))
    uow = fake(deals)
    uow.adopt(prep)

    await open_deals([env], uow, DEPS)

    (opened,) = uow.events
    assert isinstance(opened, DealOpened) and opened.prospect.contact is None
    assert deals.deals["deal-lead-9"].erased_at == NOW


async def test_d9_the_close_command_names_the_missing_seller_card_and_saves_nothing():
    deals = InMemoryDeals(a_deal(organisation_id="org-1"))
    terms = CloseTerms.model_validate(complete_terms())
    uow = fake(deals)
    with pytest.raises(CloseRefused) as refused:
        await commands.close_deal(uow, SETTINGS, "deal-lead-1", SELLER, terms)
    assert refused.value.missing == ["seller_card"]
    assert uow.events == [] and uow.timers == []
    assert deals.deals["deal-lead-1"].status == "open"

    card = examples.seller_card(seller_id="seller-1")
    uow = fake(deals, InMemoryDirectory(cards={("org-1", "seller-1"): card}))
    answer = await commands.close_deal(uow, SETTINGS, "deal-lead-1", SELLER, terms)
    assert answer["_status"] == 201 and answer["summary_version"] == 1
    assert [type(e) for e in uow.events] == [DealClosed]
    assert [t.cancel for t in uow.timers] == [True]
    assert deals.deals["deal-lead-1"].status == "won"
    assert deals.history["deal-lead-1"] == ["DealClosed"]


async def test_d5_due_timers_remind_open_deals_only_and_rearm():
    quiet, lost = a_deal(deal_id="deal-a"), a_deal(deal_id="deal-b", status="lost")
    deals = InMemoryDeals(quiet, lost)
    later = NOW + timedelta(days=14)
    timers = [
        DueTimer(stale_timer_key(d), "stale_deal", later, {"deal_id": d}, later)
        for d in ("deal-a", "deal-b")
    ]
    uow = FakeUnitOfWork(later, {Deals: deals, Directory: InMemoryDirectory()})

    await remind_stale_deals(timers, uow, DEPS)

    (reminder,) = uow.events
    assert isinstance(reminder, StaleDealReminder) and reminder.deal_id == "deal-a"
    assert [(t.key, t.due_at) for t in uow.timers] == [
        (stale_timer_key("deal-a"), later + timedelta(days=14))
    ]
    assert deals.history == {"deal-a": ["StaleDealReminder"], "deal-b": []}


async def test_the_prepared_deal_starts_at_the_configured_first_stage():
    """CLOSING_STAGES reaches the prepare step (the table binds it to the deps), so the
    prepared DealOpened is the one that goes out: emitted as caused number 0."""
    settings = ClosingSettings(stages=["discovery", "closing"])
    deps = Deps(settings=settings, default_process=settings.default_process())
    env = envelope(lead_accepted(lead_id="lead-7", organisation_id="org-1"), source="t")
    prep = Preparation("test", NOW)
    prep.run(handlers_from(EVENTS, deps).prepares[LeadAccepted.ce_type()], env)
    assert prep.plans[env.id].opened.stage == "discovery"
    deals = InMemoryDeals()
    uow = fake(deals)
    uow.adopt(prep)

    await open_deals([env], uow, deps)

    [out] = uow.outgoing
    assert out.id == prep.plans[env.id].emission.envelope.id  # the prepared one went out
    assert deals.deals["deal-lead-7"].stage == "discovery"
