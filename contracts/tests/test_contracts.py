"""The event catalogue: round trips, CloudEvents mapping, schema drift and compatibility."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kauppa.contracts import (
    DealClosed,
    DecodeError,
    LeadQualified,
    Money,
    SchemaInvalid,
    UnknownEventType,
    all_event_classes,
    envelope,
    examples,
    from_kafka,
    from_structured,
    to_kafka,
    to_structured,
)
from kauppa.contracts.schemas import breaking_changes, compare_with_committed, schema_of
from kauppa.contracts.topics import ALL_TOPICS
from pydantic import ValidationError

DESIGN_CARD_NAMES = {"LeadQualified", "DealClosed", "DeliveryCompleted", "ContactDue"}


def test_design_card_event_names_exist():
    names = {c.type_name for c in all_event_classes()}
    assert names >= DESIGN_CARD_NAMES


def test_every_event_declares_topic_key_version_and_owner():
    topics = {t.name: t for t in ALL_TOPICS}
    for cls in all_event_classes():
        assert cls.topic in topics, cls
        assert cls.key_field in cls.model_fields, f"{cls.type_name} keyed by a missing field"
        assert topics[cls.topic].key == cls.key_field, f"{cls.type_name}: topic keyed otherwise"
        assert cls.event_version >= 1 and cls.emitted_by and cls.meaning, cls.type_name
        assert cls.ce_type() == f"fi.kauppa.{cls.type_name}.v{cls.event_version}"


def test_kafka_binary_round_trip_keeps_attributes_and_body():
    lead = examples.lead_qualified()
    env = envelope(lead, source="kauppa/test", correlation_id="corr-1")
    topic, key, value, headers = to_kafka(env)
    assert topic == "kauppa.leads.qualified" and key == lead.lead_id.encode()
    names = {k for k, _ in headers}
    assert {
        "ce_specversion",
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_time",
        "ce_subject",
        "content-type",
        "traceparent",
        "ce_correlationid",
    } <= names
    back = from_kafka(headers, value)
    assert back.event == lead
    assert (back.id, back.correlation_id, back.source) == (env.id, "corr-1", "kauppa/test")
    assert json.loads(value)["lead_id"] == lead.lead_id  # the body is the event's JSON


def test_caused_event_carries_correlation_causation_and_trace():
    cause = envelope(examples.lead_qualified(), source="up")
    effect = envelope(examples.deal_closed(), source="closing", cause=cause)
    assert effect.correlation_id == cause.correlation_id
    assert effect.causation_id == cause.id
    assert effect.traceparent.split("-")[1] == cause.traceparent.split("-")[1]


def test_structured_mode_round_trip():
    env = envelope(examples.deal_closed(), source="closing")
    doc = json.loads(json.dumps(to_structured(env)))
    assert from_structured(doc).event == env.event


@pytest.mark.parametrize(
    ("headers", "value", "error"),
    [
        ([("ce_type", b"fi.kauppa.LeadQualified.v1"), ("ce_id", b"1")], b"{nope", DecodeError),
        ([("ce_id", b"1")], b"{}", DecodeError),
        ([("ce_type", b"fi.kauppa.Nope.v1"), ("ce_id", b"1")], b"{}", UnknownEventType),
        ([("ce_type", b"fi.kauppa.LeadQualified.v1"), ("ce_id", b"1")], b"{}", SchemaInvalid),
        ([("ce_type", b"fi.kauppa.LeadQualified.v1"), ("ce_id", b"1")], None, DecodeError),
    ],
)
def test_bad_records_are_refused_with_a_reason(headers, value, error):
    with pytest.raises(error) as caught:
        from_kafka(headers, value)
    assert caught.value.message


def test_money_is_decimal_and_travels_as_string():
    deal = examples.deal_closed()
    body = json.loads(deal.model_dump_json())
    assert body["summary"]["price"]["total"]["amount"] == "4028.55"
    assert DealClosed.model_validate(body).summary.price.total.amount == Decimal("4028.55")
    with pytest.raises(ValidationError):
        Money(amount=Decimal("NaN"), currency="EUR")
    with pytest.raises(ValidationError):
        Money(amount=Decimal(1), currency="euro")
    with pytest.raises(ValueError, match="cannot add"):
        _ = Money(amount=Decimal(1), currency="EUR") + Money(amount=Decimal(1), currency="SEK")


def test_timestamps_must_be_aware_and_become_utc():
    helsinki = timezone(timedelta(hours=2))
    lead = examples.lead_qualified(qualified_at=datetime(2026, 3, 6, 15, 0, tzinfo=helsinki))
    assert lead.qualified_at.utcoffset() == timedelta(0) and lead.qualified_at.hour == 13
    with pytest.raises(ValidationError):
        examples.lead_qualified(qualified_at=datetime(2026, 3, 6, 15, 0))


@given(
    amount=st.decimals(
        min_value=Decimal("-99999999999999999999.99"),
        max_value=Decimal("99999999999999999999.99"),
        places=2,
    )
)
def test_any_finite_amount_round_trips_exactly(amount):
    money = Money(amount=amount, currency="EUR")
    assert Money.model_validate_json(money.model_dump_json()) == money


def test_newer_producers_extra_fields_are_tolerated():
    body = json.loads(examples.lead_qualified().model_dump_json())
    body["field_from_the_future"] = 1
    assert LeadQualified.model_validate(body).lead_id == body["lead_id"]


def test_committed_json_schemas_match_the_models():
    drift, breaking = compare_with_committed()
    assert not breaking, "breaking changes to published schemas:\n" + "\n".join(breaking)
    assert not drift, "schemas drifted from the models; run `make schemas`:\n" + "\n".join(drift)


class TestCompatibilityRule:
    """The rule the drift test and `make schemas` enforce: what breaks a consumer."""

    base = schema_of(LeadQualified)

    def changed(self, mutate) -> list[str]:
        new = copy.deepcopy(self.base)
        mutate(new)
        return breaking_changes(self.base, new)

    def test_adding_an_optional_field_is_fine(self):
        assert self.changed(lambda s: s["properties"].update(extra={"type": "string"})) == []

    def test_removing_a_field_breaks(self):
        assert self.changed(lambda s: s["properties"].pop("notes")) == [
            "notes: field removed or renamed"
        ]

    def test_renaming_a_field_breaks(self):
        def rename(s):
            s["properties"]["org_id"] = s["properties"].pop("organisation_id")
            s["required"] = ["org_id" if r == "organisation_id" else r for r in s["required"]]

        problems = self.changed(rename)
        assert "organisation_id: field removed or renamed" in problems
        assert "org_id: newly required" in problems

    def test_making_a_field_required_breaks(self):
        assert self.changed(lambda s: s["required"].append("notes")) == ["notes: newly required"]

    def test_nested_field_removed_breaks(self):
        problems = self.changed(lambda s: s["$defs"]["LeadSource"]["properties"].pop("booker"))
        assert problems == ["source.booker: field removed or renamed"]

    def test_changing_a_type_breaks(self):
        problems = self.changed(lambda s: s["properties"].update(notes={"type": "integer"}))
        assert problems and "type changed" in problems[0]


def test_readme_catalogue_is_current():
    from kauppa.contracts.docs import README, render_readme

    text = README.read_text()
    assert render_readme(text) == text, "contracts/README.md is stale; run `make schemas`"


def test_derived_event_ids_are_rfc4122_uuid5():
    import uuid

    from kauppa.contracts.cloudevents import _NAMESPACE, derived_event_id

    for cause in ("evt-1", "ä-ö-€", "x" * 200):
        expected = uuid.uuid5(_NAMESPACE, f"{cause}|fi.kauppa.X.v1|key|2")
        assert derived_event_id(cause, "fi.kauppa.X.v1", "key", 2) == str(expected)
