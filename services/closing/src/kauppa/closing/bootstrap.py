"""The one composition root: settings -> deps -> runtime (handler tables, indexes,
migrations) -> app."""

from __future__ import annotations

from fastapi import FastAPI
from kauppa.closing.api import router
from kauppa.closing.commands import COMMAND_EMITS, Deps
from kauppa.closing.handlers import EVENTS, TIMERS
from kauppa.closing.repository import INDEXES, migrate_seller_cards
from kauppa.closing.settings import ClosingSettings
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.routes import handlers_from, timers_from
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import ServiceSettings

DESCRIPTION = (
    "Closing: the buying path (D5), upsell (D7), referrals (D8) and the close with a "
    "complete summary and signature (D9, D10)."
)


def build_runtime(
    settings: ClosingSettings,
    clock: Clock | None = None,
    *,
    consume: bool = True,
    run_timers: bool = True,
) -> ServiceRuntime:
    """``consume``/``run_timers`` off: tests drive events and timers themselves."""
    deps = Deps(settings=settings, default_process=settings.default_process())
    return ServiceRuntime(
        settings,
        handlers_from(EVENTS, deps),
        timer_handlers=timers_from(TIMERS, deps),
        indexes=INDEXES,
        emits=COMMAND_EMITS,
        migrations=[migrate_seller_cards],
        clock=clock,
        consume=consume,
        run_timers=run_timers,
    )


def build_app(settings: ServiceSettings) -> FastAPI:
    if not isinstance(settings, ClosingSettings):
        settings = ClosingSettings(**settings.model_dump())
    return create_app(build_runtime(settings), [router], description=DESCRIPTION)
