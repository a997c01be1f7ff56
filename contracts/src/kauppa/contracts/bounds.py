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
- ``Amount``: a decimal of at most ``DECIMAL_DIGITS_MAX`` digits (``1E+999999999`` is
  refused: it would overflow the arithmetic of every service reading it).
- Lists: ``MAX_LINES`` line items, ``MAX_ITEMS`` for other lists of values.
- Nesting: a body nested deeper than ``MAX_JSON_DEPTH`` objects and arrays is refused
  before it is parsed (no event is a tenth as deep; unknown fields are otherwise ignored,
  so a deep one would pass validation unseen).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import Field

ID_MAX = 128
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
DERIVED_ID_MAX = 512
DERIVED_ID_PATTERN = r"^[^\s\x00-\x1f\x7f]+$"
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
Amount = Annotated[Decimal, Field(max_digits=DECIMAL_DIGITS_MAX)]


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
