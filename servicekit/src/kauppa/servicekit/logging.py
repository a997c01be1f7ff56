"""structlog: JSON lines when not a terminal, pretty in one; personal data masked.

Every line carries the service name; the pipeline binds event id and correlation id
with ``structlog.contextvars`` while it handles an event.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Masking runs in linear time whatever the input: no pattern below can backtrack more
# than a constant, and the loops move forward only (a regex with a nested run and a
# condition at its end took 1.3 s on one 40 KB value). What is masked is exactly what
# these two patterns match (a test compares them on random text):
#   e-mail  ([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})
#   phone   (?<![\w-])(\+?\d[\d ()-]{6,}\d)(?![\w-])
_EMAIL_CANDIDATE = re.compile(r"[A-Za-z0-9._%+-]@(?=[A-Za-z0-9.-]*?\.[A-Za-z]{2})")
_LOCAL_RUN = re.compile(r"[A-Za-z0-9._%+-]*")
_DOMAIN_RUN = re.compile(r"[A-Za-z0-9.-]*")
_LETTERS = re.compile(r"[A-Za-z]*")
_TLD_REVERSED = re.compile(r"[A-Za-z]{2}\.")  # "if." in the reversed text is ".fi"
_PHONE_RUN = re.compile(r"\+?[\d ()-]{8,}")  # a maximal run a number may lie in
_PHONE_START = re.compile(r"(?<![\w-])\+?\d")  # where a number may begin
_GAP_DIGIT_REVERSED = re.compile(r"[ ()]\d")  # a digit then a gap, in the reversed text
_DIGIT = re.compile(r"\d")
_WORD_OR_DASH = re.compile(r"[\w-]")
_NON_DIGIT = re.compile(r"\D")

FIELD_LIMIT = 1_000
"""Log fields longer than this are cut (with a marker) before they are masked."""
TRACE_LIMIT = 8_000
"""``exception`` and ``stack`` keep their last this many characters (the error at the
end of a traceback is what matters)."""
ITEMS_LIMIT = 100
"""Lists and dicts in a log field keep their first this many items."""


def _mask_emails(text: str) -> str:
    out: list[str] = []
    pos, n = 0, len(text)
    reversed_text = ""
    # Each candidate is an "@" with a local character before it and a ".xx" after it in
    # its domain run; domain runs hold no "@", so the scans below never overlap.
    for candidate in _EMAIL_CANDIDATE.finditer(text):
        at = candidate.start() + 1
        if not reversed_text:
            reversed_text = text[::-1]
        domain_end = _DOMAIN_RUN.match(text, at + 1).end()  # type: ignore[union-attr]
        # The rightmost ".xx" with a character before it (where backtracking ends),
        # found as the leftmost "xx." in the reversed text.
        tld = _TLD_REVERSED.search(reversed_text, n - domain_end, n - at - 2)
        local = _LOCAL_RUN.match(reversed_text, n - at, n - pos)  # not before the last match
        if tld is None or local is None or local.end() == n - at:
            continue
        start = at - (local.end() - (n - at))
        dot = n - tld.end()
        end = _LETTERS.match(text, dot + 1, domain_end).end()  # type: ignore[union-attr]
        out.append(text[pos:start])
        out.append(f"{text[start]}***@{text[at + 1 : end]}")
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _mask_phones(text: str) -> str:
    out: list[str] = []
    pos, n = 0, len(text)
    for run in _PHONE_RUN.finditer(text):
        a, e = run.span()
        # Where the greedy pattern ends, wherever in the run it starts: the run's last
        # digit that no word character or dash follows.
        if _DIGIT.match(text, e - 1) and not (e < n and _WORD_OR_DASH.match(text, e)):
            last = e - 1
        else:
            gap = _GAP_DIGIT_REVERSED.search(text[a:e][::-1])
            if gap is None:
                continue
            last = e - 2 - gap.start()
        # The first place a number may begin; if it is too short, so are the later ones.
        begin = _PHONE_START.search(text, a, last)
        if begin is None or last - (begin.end() - 1) < 7:
            continue
        start = begin.start()
        out.append(text[pos:start])
        out.append("***" + _NON_DIGIT.sub("", text[start : last + 1])[-2:])
        pos = last + 1
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def mask_text(text: str) -> str:
    """``maija.meikalainen@example.fi`` -> ``m***@example.fi``; phone numbers keep 2 digits.
    Linear in the length of ``text``."""
    return _mask_phones(_mask_emails(text))


_TOKEN_CHARS = frozenset("._%+@-")


def cut(value: str, limit: int = FIELD_LIMIT) -> str:
    """``value`` bounded to about ``limit`` characters. The cut never leaves the head of
    an e-mail address or a number behind (it could no longer be recognised and masked):
    a token cut through is dropped back to the last separator within 320 characters."""
    if len(value) <= limit:
        return value
    kept = value[:limit]
    back = 0
    while back < min(320, limit) and (kept[-1 - back].isalnum() or kept[-1 - back] in _TOKEN_CHARS):
        back += 1
    if back < min(320, limit):
        kept = kept[: limit - back]
    return f"{kept}…[cut: {len(value)} chars]"


def _bounded(value: Any) -> Any:
    """Every string cut to ``FIELD_LIMIT``, every list and dict to ``ITEMS_LIMIT`` items;
    other objects (exceptions, bytes, models) as their cut ``repr``."""
    if isinstance(value, str):
        return cut(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        items = [(k, _bounded(v)) for k, v in list(value.items())[:ITEMS_LIMIT]]
        bounded = {cut(str(k), 200): v for k, v in items}
        if len(value) > ITEMS_LIMIT:
            bounded["…"] = f"[cut: {len(value)} items]"
        return bounded
    if isinstance(value, list | tuple):
        kept = [_bounded(v) for v in value[:ITEMS_LIMIT]]
        if len(value) > ITEMS_LIMIT:
            kept.append(f"…[cut: {len(value)} items]")
        return kept
    return cut(repr(value))


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


def mask_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Bound, then mask, every field (``exception`` and ``stack`` keep their tail)."""
    for key, value in list(event_dict.items()):
        if key in ("timestamp", "level", "logger"):
            continue
        if key in ("exception", "stack") and isinstance(value, str):
            bounded: Any = value if len(value) <= TRACE_LIMIT else "…" + value[-TRACE_LIMIT:]
        else:
            bounded = _bounded(value)
        event_dict[key] = _mask(bounded)
    return event_dict


def configure_logging(service: str, *, fmt: str = "auto", level: str = "INFO") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            mask_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
