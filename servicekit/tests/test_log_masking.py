"""Log masking: exactly what the original patterns masked, in linear time, and every
field bounded before it is masked."""

from __future__ import annotations

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st
from kauppa.servicekit.logging import FIELD_LIMIT, ITEMS_LIMIT, mask_personal_data, mask_text

# The patterns masking used before (quadratic on long values): the reference.
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"(?<![\w-])(\+?\d[\d ()-]{6,}\d)(?![\w-])")


def reference(text: str) -> str:
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(lambda m: "***" + re.sub(r"\D", "", m.group(1))[-2:], text)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="a1@. -+()xZ_%é٣\n,", max_size=60))
def test_masks_exactly_what_the_original_patterns_masked(text: str) -> None:
    assert mask_text(text) == reference(text)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "maija.meikalainen@esimerkki.fi",
                "+358 40 123 4567",
                "(09) 123-4567",
                "lead-42",
                "a@b.c.de",
                "x@",
                "@y.fi",
                " ",
                "-",
                "1",
                ".",
                "ab",
                "+",
                "@",
            ]
        ),
        max_size=12,
    ).map("".join)
)
def test_masks_like_the_original_on_realistic_pieces(text: str) -> None:
    assert mask_text(text) == reference(text)


HOSTILE = [
    "1 " * 50_000 + "x",
    " 1-" * 33_000 + "x",  # many starts of a number, none with a valid end
    "a" * 100_000,  # a long local part without "@"
    "a@" + "1." * 50_000,  # a domain run full of dots without a top-level domain
    "@." * 50_000,
    "a." * 50_000 + "@",
    "a1@" * 33_000,
    "(1-" * 33_000 + "a",
]


def seconds(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def test_masking_a_hostile_megabyte_is_linear() -> None:
    """1 MB of each hostile shape against 100 x 10 KB of the same shape: the same total
    length, so linear time gives a ratio near 1 (quadratic time: about 100)."""
    for unit in HOSTILE:
        big = (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
        small = big[:10_000]
        baseline = min(sum(seconds(mask_text, small) for _ in range(100)) for _ in range(3))
        once = min(seconds(mask_text, big) for _ in range(2))
        assert once < 5 * baseline + 0.05, (unit[:12], once, baseline)
        assert once < 1.0, (unit[:12], once)


def test_the_old_patterns_were_quadratic_on_the_same_input() -> None:
    """The bound above can fail: the reference took 16 x as long on 4 x the length."""
    for value in ("a" * 20_000, " 1-" * 2_000 + "x"):
        quarter = min(seconds(reference, value[: len(value) // 4]) for _ in range(3))
        assert seconds(reference, value) > 6 * quarter, value[:6]


def test_every_field_is_cut_before_it_is_masked() -> None:
    huge = "lead-" + "7" * 1_000_000
    started = time.perf_counter()
    event = mask_personal_data(
        None,
        "info",
        {
            "event": "handled",
            "event_id": huge,
            "ids": [huge] * 10_000,
            "nested": {"note": huge, "email": "maija.meikalainen@esimerkki.fi"},
            "raw": huge.encode(),
        },
    )
    assert time.perf_counter() - started < 1.0
    assert len(event["event_id"]) < FIELD_LIMIT + 40 and "cut: 1000005 chars" in event["event_id"]
    assert len(event["ids"]) == ITEMS_LIMIT + 1 and "10000 items" in event["ids"][-1]
    assert len(event["nested"]["note"]) < FIELD_LIMIT + 40
    assert event["nested"]["email"] == "m***@esimerkki.fi"
    assert len(event["raw"]) < FIELD_LIMIT + 40
    assert event["event"] == "handled"


def test_a_cut_never_leaves_an_unmaskable_head_of_an_address() -> None:
    value = "x " * (FIELD_LIMIT // 2 - 8) + "maija.meikalainen@esimerkki.fi and more"
    masked = mask_personal_data(None, "info", {"note": value})["note"]
    assert "meikalainen" not in masked and "maija" not in masked
    assert masked.endswith("chars]")


def test_a_traceback_keeps_its_end() -> None:
    trace = "Traceback\n" + "  frame\n" * 5_000 + "ValueError: bad maija@esimerkki.fi"
    masked = mask_personal_data(None, "error", {"exception": trace})["exception"]
    assert masked.endswith("ValueError: bad m***@esimerkki.fi") and len(masked) < 9_000
