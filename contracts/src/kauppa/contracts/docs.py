"""Render the catalogue table in contracts/README.md from the models (``make schemas``)."""

from __future__ import annotations

from pathlib import Path

from kauppa.contracts.catalogue import all_event_classes
from kauppa.contracts.topics import ALL_TOPICS

README = Path(__file__).resolve().parents[3] / "README.md"
BEGIN, END = "<!-- catalogue:begin -->", "<!-- catalogue:end -->"


def catalogue_markdown() -> str:
    lines = [
        "| event (CloudEvents type) | topic | key | emitted by | consumed by | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for cls in all_event_classes():
        lines.append(
            f"| `{cls.type_name}` (`{cls.ce_type()}`) | `{cls.topic}` | `{cls.key_field}` "
            f"| {cls.emitted_by} | {', '.join(cls.consumed_by)} | {cls.meaning} |"
        )
    lines += ["", "| topic | key | partitions | retention | meaning |", "|---|---|---|---|---|"]
    for t in ALL_TOPICS:
        lines.append(
            f"| `{t.name}` | `{t.key}` | {t.partitions} | {t.retention_days} d | {t.meaning} |"
        )
    return "\n".join(lines)


def render_readme(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{catalogue_markdown()}\n{END}{tail}"


def update_readme() -> bool:
    text = README.read_text()
    new = render_readme(text)
    if new != text:
        README.write_text(new)
        return True
    return False
