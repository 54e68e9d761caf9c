"""The event types an endpoint can subscribe to: one list, read by the API, the UI and the docs."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    campaign_started = "campaign.started"
    campaign_paused = "campaign.paused"
    campaign_resumed = "campaign.resumed"
    campaign_ended = "campaign.ended"
    # Emitted by the quality circuit breaker and the budget cap (issue 24), through `outbox.record_campaign_events`.
    campaign_paused_by_breaker = "campaign.paused_by_breaker"
    campaign_budget_reached = "campaign.budget_reached"
    message_sent = "message.sent"
    message_delivered = "message.delivered"
    message_read = "message.read"
    message_failed = "message.failed"
    message_replied = "message.replied"
    contact_opted_out = "contact.opted_out"
    template_status_changed = "template.status_changed"
    number_quality_changed = "number.quality_changed"


# Sent only by "Send test event", to that one endpoint whatever it subscribes to.
TEST_EVENT = "endpoint.test"
ALL_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)
