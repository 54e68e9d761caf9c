"""WhatsApp Cloud API: client, payload builders, error taxonomy and webhook parsing."""

from herald.whatsapp.client import CloudAPIClient, NumberCredentials, NumberInfo, SendResult
from herald.whatsapp.errors import RefusedByPolicy, RetryClass, WhatsAppError, classify, reason_for_code
from herald.whatsapp.events import (
    AccountUpdate,
    ErrorInfo,
    InboundMessage,
    NumberQualityUpdate,
    ParsedWebhook,
    StatusEvent,
    TemplateCategoryUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
    UserPreference,
    ValueErrors,
    WebhookRouting,
)
from herald.whatsapp.payloads import HeaderMedia, template_message, text_message, with_marketing_options
from herald.whatsapp.webhooks import (
    WebhookPayloadError,
    parse_webhook,
    parse_webhook_document,
    phone_number_ids,
    routing_ids,
    signature_header,
    verify_signature,
)

__all__ = [
    "AccountUpdate",
    "CloudAPIClient",
    "ErrorInfo",
    "HeaderMedia",
    "InboundMessage",
    "NumberCredentials",
    "NumberInfo",
    "NumberQualityUpdate",
    "ParsedWebhook",
    "RefusedByPolicy",
    "RetryClass",
    "SendResult",
    "StatusEvent",
    "TemplateCategoryUpdate",
    "TemplateQualityUpdate",
    "TemplateStatusUpdate",
    "UserPreference",
    "ValueErrors",
    "WebhookPayloadError",
    "WebhookRouting",
    "WhatsAppError",
    "classify",
    "parse_webhook",
    "parse_webhook_document",
    "phone_number_ids",
    "reason_for_code",
    "routing_ids",
    "signature_header",
    "template_message",
    "text_message",
    "verify_signature",
    "with_marketing_options",
]
