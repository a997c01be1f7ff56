"""What the confirmation service's handlers, commands and API use beyond the unit of work,
built once in ``bootstrap.py``: ``Deps`` (settings, send policies, the renderer) for the
handler table, and ``service_of(runtime)``, the typed way to the service's parts that
are not the kit's (its SMTP sender)."""

from __future__ import annotations

from dataclasses import dataclass
from weakref import WeakKeyDictionary

from kauppa.confirmation.domain.confirmation import Drafting
from kauppa.confirmation.policies import PolicyBook
from kauppa.confirmation.rendering import ConfirmationRenderer
from kauppa.confirmation.sender import ConfirmationSender
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.servicekit.runtime import ServiceRuntime


@dataclass(frozen=True)
class Deps:
    settings: ConfirmationSettings
    policies: PolicyBook
    renderer: ConfirmationRenderer

    @property
    def drafting(self) -> Drafting:
        return Drafting(
            message_id_domain=self.settings.message_id_domain,
            default_country=self.settings.default_country,
            # Signed-copy links over http only in the local profile.
            allow_http=self.settings.kafka.profile == "local",
        )


@dataclass(frozen=True)
class ConfirmationService:
    """The service's own parts beside its runtime: what its handlers use, and the SMTP
    sender (a kit worker of the runtime; the API wakes it after a review)."""

    deps: Deps
    sender: ConfirmationSender


_SERVICES: WeakKeyDictionary[ServiceRuntime, ConfirmationService] = WeakKeyDictionary()


def attach(runtime: ServiceRuntime, service: ConfirmationService) -> None:
    _SERVICES[runtime] = service


def service_of(runtime: ServiceRuntime) -> ConfirmationService:
    """The confirmation service's parts of a runtime built by ``build_runtime``."""
    try:
        return _SERVICES[runtime]
    except KeyError:
        raise LookupError(f"{runtime.name} was not built by the confirmation service") from None
