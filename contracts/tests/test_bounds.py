"""Size is a contract: every string and list of every event has a maximum, ids a pattern,
and the compatibility rule refuses to lift a bound consumers may rely on."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kauppa.contracts import (
    LeadQualified,
    SchemaInvalid,
    all_event_classes,
    envelope,
    examples,
    from_kafka,
    to_kafka,
)
from kauppa.contracts.bounds import (
    DECIMAL_DIGITS_MAX,
    ID_MAX,
    MAX_ITEMS,
    SHORT_TEXT_MAX,
    TEXT_MAX,
    bounded_amount,
)
from kauppa.contracts.schemas import breaking_changes, schema_of
from pydantic import TypeAdapter, ValidationError

# Text the services compose from other bounded values: only the message size bounds it.
COMPOSED = {"TalkingPoint.text", "ConfirmationScheduled.checklist[]"}
# Decimals travel as strings; their bound is ``max_digits`` (see the test below).
DECIMALS = {
    "Money.amount",
    "LineItem.quantity",
    "LineItem.discount_percent",
    "PriceSummary.vat_rate",
    "DeliveredItem.quantity",
}


def _unbounded(node: Any, defs: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    found: list[str] = []
    if not isinstance(node, dict):
        return found
    if "$ref" in node:
        name = node["$ref"].split("/")[-1]
        if name not in seen:
            seen.add(name)
            found += _unbounded(defs[name], defs, name, seen)
        return found
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for option in node.get(key, []):
            found += _unbounded(option, defs, where, seen)
    if isinstance(node.get("additionalProperties"), dict):
        if "maxProperties" not in node:
            found.append(f"{where} (map)")
        found += _unbounded(node["additionalProperties"], defs, f"{where}{{}}", seen)
    bounded = (
        "maxLength" in node
        or "enum" in node
        or not any(c in node.get("pattern", "*") for c in "*+")  # e.g. ^[A-Z]{2}$
        or node.get("format") in {"date-time", "date"}
        or where in COMPOSED | DECIMALS
    )
    if node.get("type") == "string" and not bounded:
        found.append(where)
    if node.get("type") == "array":
        if "maxItems" not in node:
            found.append(f"{where} (list)")
        found += _unbounded(node.get("items"), defs, f"{where}[]", seen)
    for name, prop in node.get("properties", {}).items():
        found += _unbounded(prop, defs, f"{node.get('title', where)}.{name}", seen)
    return found


@pytest.mark.parametrize("cls", all_event_classes(), ids=lambda c: c.type_name)
def test_every_string_and_list_has_a_maximum(cls):
    schema = schema_of(cls)
    assert _unbounded(schema, schema.get("$defs", {}), cls.type_name, set()) == []


def _all_models() -> list[type]:
    """Every model of the contracts, nested ones and those the services' requests take
    directly (``SellerCard``, ``Referral``, ``SegmentCriteria``...), not only events."""
    import importlib
    import pkgutil

    import kauppa.contracts as contracts
    from kauppa.contracts.base import Model

    for module in pkgutil.walk_packages(contracts.__path__, "kauppa.contracts."):
        importlib.import_module(module.name)
    found: set[type] = set()
    stack: list[type] = [Model]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    # (Only the contracts' own: a service's subclass is its internal state, not a contract.)
    own = [c for c in found if c.__module__.startswith("kauppa.contracts.")]
    return sorted(own, key=lambda c: (c.__module__, c.__name__))


@pytest.mark.parametrize("model", _all_models(), ids=lambda c: c.__name__)
def test_every_contract_model_string_and_list_has_a_maximum(model):
    schema = model.model_json_schema()
    assert _unbounded(schema, schema.get("$defs", {}), model.__name__, set()) == []


def test_request_models_are_among_the_models_checked():
    names = {m.__name__ for m in _all_models()}
    assert {"SellerCard", "Referral", "SegmentCriteria", "CustomerAttributes"} <= names


def test_decimals_have_a_maximum_of_digits():
    from kauppa.contracts.base import Money
    from kauppa.contracts.events.customers import DeliveredItem
    from kauppa.contracts.events.deals import LineItem, PriceSummary

    models = {"Money": Money, "LineItem": LineItem, "PriceSummary": PriceSummary}
    models["DeliveredItem"] = DeliveredItem
    for where in DECIMALS:
        model, name = where.split(".")
        metadata = models[model].model_fields[name].metadata
        assert any(getattr(m, "max_digits", None) == DECIMAL_DIGITS_MAX for m in metadata), where
    for hostile in ("1E+999999999", "1e3", " 7", "+5", "5.", ".5", "1_000", "NaN"):
        with pytest.raises(ValidationError):
            Money(amount=hostile, currency="EUR")
    for number in (1e20, -1e20, float("inf"), True, 10**20):
        with pytest.raises(ValidationError):
            Money.model_validate_json(json.dumps({"amount": number, "currency": "EUR"}))
    tiny = Money.model_validate_json('{"amount": 4.304487540093355e-55, "currency": "EUR"}')
    assert tiny.amount == 0, "a number is rounded to 20 decimals"
    assert json.loads(tiny.model_dump_json())["amount"] == "0." + "0" * 20, "fixed point"


SPELLINGS = [
    *("0", "5", "+5", "-5", "-0", "-0.0", "5.", ".5", "00.5", "0.0", "100", "100.0"),
    *("100.01", "1e1", " 7", "12.50", "1200", "0.5", "25.5", "0.00000000000000000001"),
    *("0.000000000000000000001", "99999999999999999999", "100000000000000000000"),
    *(4.3e-55, 5e-21, -5e-21, 6e-21, -6e-21, 1e20, 9.9e19, -1e20, 100.0, 100.00000000000001),
    *(True, 0, -0.0, 1e-20, 1.5e-20, 25.5, 1200, 10**20, 10**20 - 1, -(10**20) + 1, -0.5),
]


@pytest.mark.parametrize(
    "bounds", [{}, {"ge": 0}, {"gt": 0}, {"ge": 0, "le": 100}, {"gt": 0, "le": 100}], ids=str
)
def test_an_amounts_json_schema_says_exactly_what_it_accepts(bounds: dict[str, int]) -> None:
    """In both directions: what the schema allows is read, what it forbids is refused,
    and what Kauppa writes back fits it (schemathesis holds the services to this)."""
    amount: Any = TypeAdapter(bounded_amount(**bounds))
    schema = amount.json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    pattern = schema["anyOf"][1]["pattern"]

    @settings(max_examples=600, database=None, deadline=None)
    @given(
        st.one_of(
            st.sampled_from(SPELLINGS),
            st.floats(allow_nan=False, allow_infinity=False),
            st.floats(min_value=-1e-18, max_value=1e-18),
            st.integers(),
            st.from_regex(r"-?[0-9]{1,22}(\.[0-9]{1,22})?", fullmatch=True),
            st.from_regex(pattern),
        )
    )
    def agrees(value: Any) -> None:
        try:
            read = amount.validate_json(json.dumps(value))
        except ValidationError:
            assert not validator.is_valid(value), value
            return
        assert validator.is_valid(value), value
        assert validator.is_valid(json.loads(amount.dump_json(read))), value
        assert isinstance(read, Decimal)

    agrees()


def test_ids_fields_have_the_id_pattern():
    schema = schema_of(LeadQualified)
    assert schema["properties"]["lead_id"]["maxLength"] == ID_MAX
    assert schema["properties"]["lead_id"]["pattern"].startswith("^[A-Za-z0-9]")


@pytest.mark.parametrize(
    "override",
    [
        {"lead_id": "x" * (ID_MAX + 1)},
        {"lead_id": "lead with spaces"},
        {"lead_id": "-starts-with-a-dash"},
        {"organisation_id": "org\nnewline"},
        {"notes": "n" * (TEXT_MAX + 1)},
        {"product_interest": ["p"] * (MAX_ITEMS + 1)},
        {"product_interest": ["p" * (SHORT_TEXT_MAX + 1)]},
    ],
    ids=lambda o: next(iter(o)),
)
def test_out_of_bounds_values_are_refused(override):
    with pytest.raises(ValidationError):
        examples.lead_qualified(**override)


def test_within_bounds_values_are_taken():
    lead = examples.lead_qualified(
        lead_id="L" + "x" * (ID_MAX - 1),
        organisation_id="org:a.b_c@d-e",
        notes="n" * TEXT_MAX,
        product_interest=["p" * SHORT_TEXT_MAX] * MAX_ITEMS,
    )
    assert len(lead.lead_id) == ID_MAX


def test_a_record_over_a_bound_is_schema_invalid_with_the_reason():
    lead = examples.lead_qualified()
    _topic, _key, value, headers = to_kafka(envelope(lead, source="test"))
    value = value.replace(lead.lead_id.encode(), b"y" * 500)
    with pytest.raises(SchemaInvalid) as caught:
        from_kafka(headers, value)
    assert caught.value.kind == "schema_invalid"
    assert "lead_id" in caught.value.message and "128" in caught.value.message


def test_demo_and_examples_stay_within_bounds():
    """The samples the demo, tests and benchmarks build from are valid."""
    assert examples.deal_closed().summary.lines
    assert examples.lead_qualified().lead_id


class TestBoundsInTheCompatibilityRule:
    """Consumers only ever see less when a bound is added or tightened; a bound raised or
    dropped may break one that relied on it (a column width, a buffer)."""

    base = schema_of(LeadQualified)

    def changed(self, mutate) -> list[str]:
        new = copy.deepcopy(self.base)
        mutate(new)
        return breaking_changes(self.base, new)

    def test_adding_or_tightening_a_bound_is_fine(self):
        def tighten(s):
            s["properties"]["lead_id"]["maxLength"] = 64
            s["$defs"]["LeadSource"]["properties"]["system"]["maxLength"] = 100
            s["properties"]["extra"] = {"type": "string", "maxLength": 3}

        assert self.changed(tighten) == []
        unbounded = copy.deepcopy(self.base)
        del unbounded["properties"]["lead_id"]["maxLength"]
        assert breaking_changes(unbounded, self.base) == []

    def test_raising_a_maximum_breaks(self):
        assert self.changed(lambda s: s["properties"]["lead_id"].update(maxLength=256)) == [
            "lead_id maxLength: raised from 128 to 256"
        ]

    def test_dropping_a_bound_breaks(self):
        problems = self.changed(lambda s: s["properties"]["product_interest"].pop("maxItems"))
        assert problems == ["product_interest maxItems: bound dropped"]

    def test_bounds_inside_optionals_lists_and_nested_objects_count(self):
        def loosen(s):
            s["properties"]["notes"]["anyOf"][0]["maxLength"] = 10**6
            s["properties"]["product_interest"]["items"]["maxLength"] = 10**6
            s["$defs"]["LeadSource"]["properties"]["system"].pop("maxLength")

        assert self.changed(loosen) == [
            "notes maxLength: raised from 4000 to 1000000",
            "product_interest[] maxLength: raised from 256 to 1000000",
            "source.system maxLength: bound dropped",
        ]

    def test_changing_an_id_pattern_breaks(self):
        problems = self.changed(lambda s: s["properties"]["lead_id"].update(pattern="^.*$"))
        assert problems == ["lead_id pattern: pattern changed"]
