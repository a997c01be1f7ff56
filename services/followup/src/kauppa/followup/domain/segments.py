"""D17: classify customers so that, when an opening appears, every matching customer can
be picked at once and contacted before competitors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kauppa.contracts.events.customers import CustomerAttributes, SegmentCriteria

# criteria field -> (attribute path in the stored customer, attribute field)
_CRITERIA: dict[str, tuple[str, str]] = {
    "industries": ("attributes.industry", "industry"),
    "sizes": ("attributes.size", "size"),
    "regions": ("attributes.region", "region"),
    "products_owned": ("products_owned", "products_owned"),
    "renewal_months": ("attributes.renewal_month", "renewal_month"),
    "tags": ("attributes.tags", "tags"),
}


def matches(
    attributes: CustomerAttributes, products_owned: set[str], criteria: SegmentCriteria
) -> bool:
    """Every given criterion must match; a list criterion matches any of its values."""
    for name, (_path, attr) in _CRITERIA.items():
        wanted = getattr(criteria, name)
        if not wanted:
            continue
        have: Any = products_owned if attr == "products_owned" else getattr(attributes, attr)
        values = set(have) if isinstance(have, list | set) else {have}
        if not values & set(wanted):
            return False
    return True


def segment_filter(organisation_id: str, criteria: SegmentCriteria) -> dict[str, Any]:
    """The same rule as ``matches``, as a database filter (active customers only)."""
    query: dict[str, Any] = {"organisation_id": organisation_id, "active": True}
    for name, (path, _attr) in _CRITERIA.items():
        wanted = getattr(criteria, name)
        if wanted:
            query[path] = {"$in": list(wanted)}
    return query


def spread_due_at(index: int, total: int, due_from: datetime, due_until: datetime) -> datetime:
    """Campaign contacts spread evenly over the window, so sellers are not flooded at once
    and the campaign is throttled by its own schedule."""
    if total <= 1 or due_until <= due_from:
        return due_from
    step = (due_until - due_from) / total
    return min(due_from + step * index, due_until)
