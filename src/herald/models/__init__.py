"""ORM models, one file per table. Importing this package registers every table on ``Base.metadata``."""

from herald.models.api_key import ApiKey
from herald.models.audience_snapshot import AudienceSnapshot
from herald.models.audit_event import AuditEvent
from herald.models.base import Base
from herald.models.bot_delivery import BotDelivery
from herald.models.bot_flow import BotFlow
from herald.models.campaign import Campaign
from herald.models.campaign_message import CampaignMessage, MessageStatus
from herald.models.campaign_stats import CampaignNotSentReason, CampaignSendMinute, CampaignStats
from herald.models.contact import Contact
from herald.models.contact_event import ContactEvent
from herald.models.contact_tag import ContactTag
from herald.models.contact_valued_tag import ContactValuedTag
from herald.models.engagement import Engagement
from herald.models.event_endpoint import EventEndpoint
from herald.models.event_outbox import EventOutbox
from herald.models.funnel_event import FunnelEvent
from herald.models.inbound_message import InboundMessage
from herald.models.inbox_case import InboxCase
from herald.models.job import Job
from herald.models.media import Media
from herald.models.number_event import NumberEvent
from herald.models.number_lease import NumberLease
from herald.models.organization import Organization
from herald.models.portfolio_reach import PortfolioReach
from herald.models.send_claim import SendClaim
from herald.models.tag import Tag
from herald.models.template import Template
from herald.models.template_event import TemplateEvent
from herald.models.user import User
from herald.models.web_session import WebSession
from herald.models.webhook_event import WebhookEvent
from herald.models.whatsapp_number import WhatsAppNumber
from herald.models.worker_heartbeat import WorkerHeartbeat

__all__ = [
    "ApiKey", "AudienceSnapshot", "AuditEvent", "Base", "BotDelivery", "BotFlow", "Campaign", "CampaignMessage", "CampaignNotSentReason",
    "CampaignSendMinute", "CampaignStats", "Contact", "ContactEvent", "ContactTag", "ContactValuedTag", "Engagement",
    "EventEndpoint", "EventOutbox",
    "EventEndpoint", "EventOutbox",
    "FunnelEvent", "InboundMessage", "InboxCase", "Job", "Media", "MessageStatus", "NumberEvent", "NumberLease",
    "Organization", "PortfolioReach", "SendClaim", "Tag", "Template", "TemplateEvent", "User", "WebSession", "WebhookEvent",
    "WhatsAppNumber", "WorkerHeartbeat",
]
