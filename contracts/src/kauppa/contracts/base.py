"""The base of every event: type name, version, topic, partition key, and shared value types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from kauppa.contracts.bounds import Amount
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

_ZERO = timedelta(0)


def _to_utc(value: datetime) -> datetime:
    # Fast path: most timestamps arrive in UTC already (astimezone is slow in a hot loop).
    if value.tzinfo is UTC:
        return value
    if value.utcoffset() == _ZERO:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware timestamp, normalised to UTC. Naive timestamps are refused."""

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


class Model(BaseModel):
    """Value objects inside events: immutable, tolerant of fields added by newer producers."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Money(Model):
    """An amount in one currency. Decimal, never float; travels as a string in JSON."""

    amount: Amount
    currency: CurrencyCode

    @field_validator("amount")
    @classmethod
    def _finite(cls, value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError("amount must be a finite number")
        return value

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount=self.amount + other.amount, currency=self.currency)


class Event(Model):
    """An integration event. Subclasses declare where they travel and who cares.

    Class attributes (not serialised):
    - ``type_name``: the business name, e.g. ``LeadQualified``;
    - ``event_version``: bumped on a breaking change; a new version is a new class;
    - ``topic``: the Kafka topic; ``key_field``: the field holding the aggregate id
      that keys the partition;
    - ``emitted_by`` / ``consumed_by``: documentation, checked by tests;
    - ``external_producer``: only systems outside Kauppa emit it (upstream, ERP, CRM,
      sellers' tools, admin tooling): no service's AsyncAPI document sends it, and every
      other event type must be sent by some service (a test checks both).
    """

    type_name: ClassVar[str]
    event_version: ClassVar[int] = 1
    topic: ClassVar[str]
    key_field: ClassVar[str]
    emitted_by: ClassVar[str]
    consumed_by: ClassVar[tuple[str, ...]] = ()
    external_producer: ClassVar[bool] = False
    meaning: ClassVar[str] = ""

    registry: ClassVar[dict[str, type[Event]]] = {}
    _ce_type: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type_name" not in cls.__dict__:
            return  # an abstract intermediate class
        ce_type = f"fi.kauppa.{cls.type_name}.v{cls.event_version}"
        cls._ce_type = ce_type
        if ce_type in Event.registry:
            raise TypeError(f"event type {ce_type} is declared twice")
        Event.registry[ce_type] = cls

    @classmethod
    def ce_type(cls) -> str:
        """The CloudEvents ``type``: reverse-DNS-ish name plus version."""
        return cls._ce_type or f"fi.kauppa.{cls.type_name}.v{cls.event_version}"

    def partition_key(self) -> str:
        return str(getattr(self, self.key_field))
