"""Size is a contract: the maxima every event field declares, in one place.

A record breaking one of them fails validation (``schema_invalid``) and is dead-lettered
by the consuming service, so one huge or hostile value never reaches a handler, a log
line or a database document. The JSON Schemas carry the same bounds (``maxLength``,
``pattern``, ``maxItems``).

- ``Id``: what services and upstream systems mint (lead, seller, organisation, report,
  delivery, contact ids...): 1-128 characters of ``ID_PATTERN``.
- ``DerivedId``: ids a service builds from other values (closing's ``deal-<lead_id>`` and
  ``cust-<org>-<company key>``): up to 512 characters, no whitespace or control
  characters (the company key may come from an e-mail domain or a registration id).
- ``ShortText`` (256): names, titles, e-mail addresses, phone numbers, codes, references.
- ``Text`` (4,000): free text a person wrote: notes, reasons, descriptions, evidence.
- ``Url`` (2,048).
- ``ComposedText``: text a service composes from other bounded values (a talking point
  listing every open problem, a confirmation checklist line). Its length has no bound of
  its own; the broker's message size, checked before commit, bounds the whole event.
- ``Amount``: a decimal of at most 20 digits before the point and 20 after it, so at
  most ``DECIMAL_DIGITS_MAX`` in all (``1E+999999999`` is refused: it would overflow the
  arithmetic of every service reading it). On the wire it is a JSON string matching
  ``AMOUNT_PATTERN`` (fixed point: ``"12.50"``, ``"-3"``, ``"0.5"``; no exponent, sign
  ``+`` or spaces) or a JSON number greater than -1e20 and less than 1e20; a number with
  more than 20 decimals is rounded to 20 (half to even) before a field's own bounds are
  checked. Kauppa writes it as a fixed-point string. Its JSON Schema says all of this
  exactly, a field's bounds (``gt``/``ge``/``le``) included: see ``amount_json_schema``.
- Lists: ``MAX_LINES`` line items, ``MAX_ITEMS`` for other lists of values.
- Nesting: a body nested deeper than ``MAX_JSON_DEPTH`` objects and arrays is refused
  before it is parsed (no event is a tenth as deep; unknown fields are otherwise ignored,
  so a deep one would pass validation unseen).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, GetJsonSchemaHandler, PlainSerializer
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

ID_MAX = 128
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
DERIVED_ID_MAX = 512
# No whitespace or control character. Spelled out, not ``\s``: Python's ``\s`` and the
# ECMA-262 ``\s`` JSON Schema validators use differ (U+001C-1F, U+0085, U+FEFF), and the
# pattern must mean the same in the document as in the code.
DERIVED_ID_PATTERN = (
    r"^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+$"
)
SHORT_TEXT_MAX = 256
TEXT_MAX = 4_000
URL_MAX = 2_048
DECIMAL_DIGITS_MAX = 40
MAX_LINES = 500
"""Line items of one offer or deal, delivered items of one delivery."""
MAX_ITEMS = 100
"""Any other list: product interests, problems, referrals, tags, milestones, checklist."""
MAX_JSON_DEPTH = 32
"""Objects and arrays inside each other in one event body."""
MAX_CHECKLIST = MAX_LINES + MAX_ITEMS + 20
"""A confirmation checklist: a line per line item and per milestone, and a few more."""

Id = Annotated[
    str,
    Field(
        min_length=1,
        max_length=ID_MAX,
        pattern=ID_PATTERN,
        description=f"An id: 1-{ID_MAX} of A-Z a-z 0-9 . _ : @ -, starting alphanumeric",
    ),
]
DerivedId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=DERIVED_ID_MAX,
        pattern=DERIVED_ID_PATTERN,
        description=f"An id built from other values: 1-{DERIVED_ID_MAX} characters, no spaces",
    ),
]
ShortText = Annotated[str, Field(max_length=SHORT_TEXT_MAX)]
Text = Annotated[str, Field(max_length=TEXT_MAX)]
Url = Annotated[str, Field(max_length=URL_MAX)]
ComposedText = str

# ------------------------------------------------------------------------------ amounts

AMOUNT_INTEGER_DIGITS = 20
AMOUNT_DECIMALS = 20
AMOUNT_LIMIT = 10**AMOUNT_INTEGER_DIGITS
"""Every amount is greater than ``-AMOUNT_LIMIT`` and less than ``AMOUNT_LIMIT``."""
_INT = r"(0|[1-9][0-9]{0,19})"
_FRACTION = r"(\.[0-9]{1,20})?"
_NEG_ZERO = r"-0(\.0{1,20})?"
AMOUNT_PATTERN = rf"^-?{_INT}{_FRACTION}$"
"""An amount as a string: fixed point, up to 20 digits before and 20 after the point."""
_AMOUNT_RE = re.compile(AMOUNT_PATTERN)
_QUANTUM = Decimal(1).scaleb(-AMOUNT_DECIMALS)
# A positive amount: a non-zero integer part, or 0.<fraction> with a non-zero digit
# among at most 20 (one alternative per count of leading zeros: no look-ahead needed).
_POSITIVE_FRACTION = "|".join(
    f"0{{{k}}}[1-9][0-9]{{0,{AMOUNT_DECIMALS - 1 - k}}}" for k in range(AMOUNT_DECIMALS)
)
_POSITIVE = rf"([1-9][0-9]{{0,19}}{_FRACTION}|0\.({_POSITIVE_FRACTION}))"
_UP_TO_100 = rf"((0|[1-9][0-9]?){_FRACTION}|100(\.0{{1,20}})?)"
_HALF_QUANTUM = 5e-21  # a number this close to 0 rounds to 0 (half to even)


def _amount(value: Any) -> Any:
    """What an amount may be read from (see the module docstring); a ``Decimal`` as a
    Python value is held to the string rule."""
    if isinstance(value, bool):
        raise ValueError("an amount is a number or a string, not a boolean")
    if isinstance(value, str):
        if not _AMOUNT_RE.match(value):
            raise ValueError(f"an amount as a string is fixed point, matching {AMOUNT_PATTERN}")
        return Decimal(value)
    if isinstance(value, int):
        if not -AMOUNT_LIMIT < value < AMOUNT_LIMIT:
            raise ValueError("an amount is greater than -1e20 and less than 1e20")
        return Decimal(value)
    if isinstance(value, float):
        if not -AMOUNT_LIMIT < value < AMOUNT_LIMIT:  # NaN and infinities too
            raise ValueError("an amount is greater than -1e20 and less than 1e20")
        number = Decimal(repr(value))
        if number.as_tuple().exponent < -AMOUNT_DECIMALS:  # type: ignore[operator]
            number = number.quantize(_QUANTUM)
        return number
    if isinstance(value, Decimal):
        try:
            fixed = format(value, "f")
        except (ValueError, InvalidOperation):
            fixed = "NaN"
        if not _AMOUNT_RE.match(fixed):
            raise ValueError(f"an amount is finite, written fixed point as {AMOUNT_PATTERN}")
        return value
    raise ValueError("an amount is a number or a string")


def amount_string_pattern(number: dict[str, Any]) -> str | None:
    """The pattern of an amount's string form given its field's bounds, as pydantic
    writes them in the number branch; None for bounds not written here."""
    bounds = {k: number[k] for k in ("minimum", "exclusiveMinimum", "maximum") if k in number}
    if not bounds:
        return AMOUNT_PATTERN
    if bounds == {"minimum": 0}:
        return rf"^({_INT}{_FRACTION}|{_NEG_ZERO})$"
    if bounds == {"exclusiveMinimum": 0}:
        return rf"^{_POSITIVE}$"
    if bounds == {"minimum": 0, "maximum": 100}:
        return rf"^({_UP_TO_100}|{_NEG_ZERO})$"
    if bounds == {"exclusiveMinimum": 0, "maximum": 100}:
        return rf"^(100(\.0{{1,20}})?|[1-9][0-9]?{_FRACTION}|0\.({_POSITIVE_FRACTION}))$"
    return None


def amount_json_schema(schema: JsonSchemaValue) -> JsonSchemaValue:
    """An amount's JSON Schema from pydantic's for its ``Decimal`` (``anyOf`` number,
    string, with the field's bounds on the number): the number branch gets the range and
    the bounds as they apply before rounding, the string branch its exact pattern."""
    branches = schema.get("anyOf", [])
    number = next(b for b in branches if b.get("type") == "number")
    pattern = amount_string_pattern(number)
    if pattern is None:
        raise TypeError(f"amount bounds not written in amount_string_pattern: {number}")
    rounded = dict(number)
    if number.get("minimum") == 0:  # rounds to (-)0 from above -5e-21 (5e-21 is a tie)
        rounded["minimum"] = -_HALF_QUANTUM
    if number.get("exclusiveMinimum") == 0:  # 5e-21 itself rounds to 0
        rounded["exclusiveMinimum"] = _HALF_QUANTUM
    rounded.setdefault("exclusiveMinimum", -float(AMOUNT_LIMIT))
    rounded.setdefault("exclusiveMaximum", float(AMOUNT_LIMIT))
    out = {k: v for k, v in schema.items() if k != "anyOf"}
    out["anyOf"] = [rounded, {"type": "string", "pattern": pattern}]
    return out


def _fixed_point(value: Decimal) -> str:
    return format(value, "f")


class _AmountSchema:
    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        if handler.mode == "serialization":
            return {"type": "string", "pattern": AMOUNT_PATTERN}
        return amount_json_schema(schema)


def bounded_amount(*, gt: int | None = None, ge: int | None = None, le: int | None = None) -> Any:
    """An amount type with bounds of its own. The bounds sit inside the type, after the
    reading (so a rounded number is checked) and before its JSON Schema is written (so
    the document carries them): given as ``Field(gt=...)`` on the field instead, pydantic
    could do neither. The bounds ``amount_string_pattern`` writes: none, ``ge=0``,
    ``gt=0``, ``ge=0, le=100``, ``gt=0, le=100``."""
    return Annotated[
        Decimal,
        Field(max_digits=DECIMAL_DIGITS_MAX, gt=gt, ge=ge, le=le),
        BeforeValidator(_amount),
        PlainSerializer(_fixed_point, return_type=str, when_used="json"),
        _AmountSchema,
    ]


if TYPE_CHECKING:  # to a type checker, each is a Decimal
    Amount = Decimal
    PositiveAmount = Decimal
    Percent = Decimal
    PositivePercent = Decimal
else:
    Amount = bounded_amount()
    PositiveAmount = bounded_amount(gt=0)
    """An amount greater than 0 (a quantity)."""
    Percent = bounded_amount(ge=0, le=100)
    """0 ... 100 (a discount or a VAT rate in per cent)."""
    PositivePercent = bounded_amount(gt=0, le=100)
    """Greater than 0, at most 100 (a bundle rule's discount)."""


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests objects and arrays deeper than ``limit``. Linear in the
    body, and nearly free for an ordinary event: with no more brackets than ``limit`` in
    all it cannot be deeper."""
    if body.count(b"{") + body.count(b"[") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.findall(_JSON_STRING.sub(b"", body)):
        if bracket in (b"{", b"["):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
