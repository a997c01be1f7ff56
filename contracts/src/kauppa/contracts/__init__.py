"""Kauppa event contracts: the only code services share besides the service kit.

Import events from here::

    from kauppa.contracts import LeadQualified, DealClosed, envelope, to_kafka, from_kafka
"""

from kauppa.contracts.base import Event, Model, Money, UtcDatetime
from kauppa.contracts.catalogue import all_event_classes, event_class, event_class_by_name
from kauppa.contracts.cloudevents import (
    DecodeError,
    Envelope,
    HttpEvents,
    SchemaInvalid,
    UnknownEventType,
    derived_event_id,
    envelope,
    from_http,
    from_kafka,
    from_structured,
    to_kafka,
    to_structured,
)
from kauppa.contracts.events.common import (
    ContactPerson,
    LeadSource,
    Prospect,
    Referral,
    SellerCard,
)
from kauppa.contracts.events.confirmations import (
    ConfirmationFailed,
    ConfirmationScheduled,
    ConfirmationSent,
    SendPolicy,
)
from kauppa.contracts.events.customers import (
    ContactDue,
    ContactKind,
    CustomerAttributes,
    CustomerClassificationSubmitted,
    CustomerContactLogged,
    CustomerContactReported,
    DeliveredItem,
    DeliveryCompleted,
    FeedbackCallCompleted,
    NextContactScheduled,
    ProblemReported,
    ProblemResolved,
    SegmentCampaignCompleted,
    SegmentCampaignStarted,
    SegmentCriteria,
    TalkingPoint,
)
from kauppa.contracts.events.deals import (
    ContactChannel,
    ContactLogged,
    DealAmended,
    DealClosed,
    DealLost,
    DealOpened,
    DealStageChanged,
    DealSummary,
    DeliveryMilestone,
    DeliverySchedule,
    LineItem,
    OfferSent,
    PaymentTerms,
    PriceSummary,
    ReferralReceived,
    SignatureEvidence,
    SignatureMethod,
    StaleDealReminder,
)
from kauppa.contracts.events.leads import (
    Criterion,
    CriterionEvidence,
    HandoffReminderDue,
    LeadAccepted,
    LeadAssigned,
    LeadLinkedAsDuplicate,
    LeadQualified,
    LeadQueued,
    LeadReassigned,
    LeadRejected,
    LeadReturned,
    LeadVerdictSubmitted,
    QualificationCriteria,
    QueueReason,
    ReturnReason,
    Verdict,
)
from kauppa.contracts.events.privacy import CustomerErased
from kauppa.contracts.events.webhooks import WebhookSubscriptionDisabled

__all__ = [name for name in dir() if not name.startswith("_")]
