"""The confirmation service's persistence: its collections and their indexes."""

from __future__ import annotations

from kauppa.servicekit.mongo import Indexes
from pymongo import ASCENDING, IndexModel

CONFIRMATIONS = "confirmations"  # one document per (deal, version)
POLICIES = "policies"  # per-organisation send policy set through the ops API
ERASURES = "erasures"  # customer_id of each erased customer (no personal data)

INDEXES = (
    Indexes(
        CONFIRMATIONS,
        (
            IndexModel([("state", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"),
            IndexModel([("deal_id", ASCENDING), ("version", ASCENDING)], name="deal"),
            IndexModel([("claimed_by", ASCENDING)], name="claim", sparse=True),
            IndexModel(
                [("copy_state", ASCENDING), ("copy_next_attempt_at", ASCENDING)],
                name="seller_copy_due",
                sparse=True,
            ),
            IndexModel([("copy_claimed_by", ASCENDING)], name="seller_copy_claim", sparse=True),
            # Seller ids are per organisation: (organisation, seller), never a seller alone.
            IndexModel(
                [("organisation_id", ASCENDING), ("seller_id", ASCENDING), ("state", ASCENDING)],
                name="organisation_seller_state",
            ),
            IndexModel([("content.customer_id", ASCENDING)], name="customer"),
            IndexModel(
                [("organisation_id", ASCENDING), ("recipient", ASCENDING)], name="recipient"
            ),
        ),
        retired=("seller_state",),  # (seller_id, state): across organisations
    ),
)
