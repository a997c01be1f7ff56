"""Query helpers (pure: the condition MongoDB gets)."""

from __future__ import annotations

import re

from kauppa.servicekit.mongo import equals_ignoring_case


def matches(condition: dict[str, str], stored: str) -> bool:
    flags = re.IGNORECASE if "i" in condition.get("$options", "") else 0
    return re.search(condition["$regex"], stored, flags) is not None


def test_an_address_matches_in_any_case_and_as_typed_with_spaces():
    asked = equals_ignoring_case("  Maija.Meikalainen@Esimerkki.FI ")
    assert matches(asked, "maija.meikalainen@esimerkki.fi")
    assert matches(asked, "Maija.Meikalainen@esimerkki.fi")
    assert not matches(asked, "xmaija.meikalainen@esimerkki.fi")
    assert not matches(asked, "maija.meikalainen@esimerkki.fi.evil")
    assert not matches(equals_ignoring_case("a.b@c.fi"), "axb@c.fi"), "dots are literal"
