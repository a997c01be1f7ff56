"""``kauppa routing what-if``: the proposal file (JSON or YAML) and the tables printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from kauppa.cli.main import read_proposal, what_if_tables
from rich.console import Console

ANSWER = {
    "organisation_id": "org-a",
    "since": "2026-02-02T07:00:00Z",
    "until": "2026-03-02T07:00:00Z",
    "leads": 5,
    "truncated": False,
    "seconds": 0.001,
    "owner_changed": 1,
    "first_seller_changed": 1,
    "actual": {
        "queued": 2, "queued_by_reason": {"all_at_capacity": 2}, "waiting": 1,
        "waiting_by_reason": {"no_seller_for_language": 1}, "reminders": 2, "reassignments": 1,
        "spread": {"sellers": 3, "min": 0, "max": 3, "mean": 1.33, "stdev": 1.25},
    },
    "proposed": {
        "queued": 3, "queued_by_reason": {"all_at_capacity": 3}, "waiting": 2,
        "waiting_by_reason": {"all_sla_expired": 1, "no_seller_for_language": 1},
        "reminders": 3, "reassignments": 1,
        "spread": {"sellers": 2, "min": 1, "max": 2, "mean": 1.5, "stdev": 0.5},
    },
    "sellers": [
        {"seller_id": "a", "actual": 3, "proposed": 2, "actual_assignments": 3,
         "proposed_assignments": 3},
        {"seller_id": "b", "actual": 0, "proposed": 0, "actual_assignments": 1,
         "proposed_assignments": 0},
    ],
    "changes": [
        {"lead_id": "L2", "actual": "a", "proposed": None, "proposed_reason": "all_sla_expired"}
    ],
}  # fmt: skip


def test_a_proposal_is_read_from_json_or_yaml_and_refused_when_not_an_object(tmp_path: Path):
    (tmp_path / "p.yaml").write_text("remove: [b]\nsellers:\n  a: {capacity: 3}\nweeks: 2\n")
    (tmp_path / "p.json").write_text('{"remove": ["b"], "sellers": {"a": {"capacity": 3}}}')
    assert read_proposal(tmp_path / "p.yaml") == {
        "remove": ["b"], "sellers": {"a": {"capacity": 3}}, "weeks": 2,
    }  # fmt: skip
    assert read_proposal(tmp_path / "p.json")["sellers"] == {"a": {"capacity": 3}}
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="one object"):
        read_proposal(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid"):
        read_proposal(tmp_path / "broken.json")


def test_the_answer_prints_per_seller_and_the_totals_side_by_side():
    console = Console(record=True, width=140)
    for table in what_if_tables(ANSWER):
        console.print(table)
    text = console.export_text()
    assert "Leads per seller (5 leads, 2026-02-02 → 2026-03-02)" in text
    assert "│ a      │ 3      │ 2        │ -1     │ 3 → 3 " in text
    assert "all_sla_expired 1, no_seller_for_language 1" in text
    assert "leads that change owner" in text
