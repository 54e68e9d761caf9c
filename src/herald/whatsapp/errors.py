"""Cloud API error taxonomy: what each Meta error code means for a campaign.

Meta says to branch on `code`, never on HTTP status or titles (WHATSAPP.md §2, §11); the HTTP
status only decides for answers that carry no known code (network trouble, proxies, 5xx pages).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import orjson


class RetryClass(StrEnum):
    """What the engine does with a failed send."""

    RETRY_NOW = "retry_now"
    BACK_OFF = "back_off"
    RETRY_AFTER_24H = "retry_after_24h"
    NEVER = "never"
    PAUSE_CAMPAIGN = "pause_campaign"
    TEMPLATE_UNUSABLE = "template_unusable"


# Two back-off codes need different handling, so the engine can test for them by name:
# 130429 lowers the number's pace, 131056 delays only the one recipient (4^X s, ≥ 6 s).
THROUGHPUT_LIMIT_CODE = 130429
PAIR_RATE_LIMIT_CODE = 131056
MAINTENANCE_CODE = 131057

# Meta refuses a send by business-scoped user id for messages that still need a phone (e.g.
# one-tap, zero-tap and copy-code authentication templates): docs/whatsapp.md, "Username users".
BSUID_NOT_SUPPORTED = 131062

# Meta's Marketing Messages API for WhatsApp (docs/whatsapp.md, "Marketing Messages API"): 131055 "Method
# not allowed" refuses a template it does not take (not MARKETING), and, as 360dialog documents it, a number
# whose business has not accepted the API's terms; Meta's own wording of that refusal starts "(#200)", a
# permission code. Either way every message of the campaign would be refused alike: it pauses.
MARKETING_MESSAGES_NOT_ALLOWED = 131055
_MARKETING_TERMS_TEXT = "marketing messages"  # with "terms": the refusal of a business that has not accepted them
MARKETING_TERMS_REASON = (
    "the business has not accepted Meta's Marketing Messages API terms: accept them in WhatsApp Manager, "
    "or turn the Marketing Messages API off for this number"
)

_BACK_OFF = frozenset({4, 80007, 613, THROUGHPUT_LIMIT_CODE, PAIR_RATE_LIMIT_CODE, MAINTENANCE_CODE})
_RETRY_NOW = frozenset({131000, 131016, 2, 133004})
_RETRY_AFTER_24H = frozenset({131049})
_TEMPLATE_UNUSABLE = frozenset({132001, 132015, 132016})
_PAUSE = frozenset({131048, 131042, 131031, 368, 131064, 190, 0, 10, MARKETING_MESSAGES_NOT_ALLOWED})
_PERMISSION_RANGE = range(200, 300)
_NEVER = frozenset(
    {131026, 131050, 130472, 131047, 131051, 131052, 131053, 100, 131008, 131009}
    | {132000, 132005, 132007, 132012, 130497, 131030, BSUID_NOT_SUPPORTED}
)

_REASONS: dict[int, str] = {
    130429: "WhatsApp throughput limit reached for this number",
    131056: "too many messages to this contact in a short time",
    4: "WhatsApp app call rate limit reached",
    80007: "WhatsApp Business Account rate limit reached",
    613: "Graph API rate limit reached",
    131057: "WhatsApp business account in maintenance",
    131000: "WhatsApp reported an unexpected error",
    131016: "WhatsApp service temporarily unavailable",
    2: "WhatsApp API temporarily unavailable",
    133004: "WhatsApp server temporarily unavailable",
    131049: "Meta chose not to deliver (per-user marketing limit)",
    131026: "not a valid WhatsApp user",
    131050: "contact opted out of marketing",
    130472: "contact is part of a Meta experiment",
    131047: "more than 24 hours since the contact's last message",
    131051: "unsupported message type",
    131052: "media from the contact could not be downloaded",
    131053: "media could not be processed (bad or mismatched type)",
    100: "invalid parameter in the request to WhatsApp",
    131008: "required parameter missing in the request to WhatsApp",
    131009: "parameter value not valid for WhatsApp",
    132000: "template parameter count does not match",
    132005: "message text too long once the template is filled",
    132007: "message text breaks WhatsApp's format policy",
    132012: "template parameter format does not match the template",
    130497: "business may not message contacts in this country",
    131030: "recipient is not in the allowed list of test numbers",
    131062: "WhatsApp needs a phone for this message; the contact has only a user id",
    132001: "template does not exist in this language or is not approved",
    132015: "template paused by WhatsApp for low quality",
    132016: "template disabled by WhatsApp",
    131048: "WhatsApp limits the messages this number may send (spam rate limit or messaging limit reached)",
    131042: "payment or eligibility problem with the WhatsApp business account",
    131031: "WhatsApp business account locked",
    368: "WhatsApp business account blocked for policy violations",
    131064: "messaging limit reduced for template category violations",
    190: "WhatsApp access token expired or invalid",
    0: "WhatsApp authentication failed",
    10: "permission denied by WhatsApp",
    131055: "WhatsApp does not take this template through the Marketing Messages API (marketing templates only)",
}
_PERMISSION_REASON = "WhatsApp API permission missing"


def classify(code: int | None, http_status: int | None) -> RetryClass:
    """The retry policy of WHATSAPP.md §11 for an error code, falling back on the HTTP status."""
    if code is not None:
        known = _classify_known_code(code)
        if known is not None:
            return known
    if code is None and http_status is None:
        return RetryClass.RETRY_NOW  # network error or timeout: no answer at all
    if http_status is not None and http_status >= 500:
        return RetryClass.RETRY_NOW  # a server or proxy failure without a code we know
    if code is None and http_status == 429:
        return RetryClass.BACK_OFF  # proxies in front of Graph answer 429 without an envelope
    if code is None and http_status == 401:
        return RetryClass.PAUSE_CAMPAIGN  # credentials are wrong for every message, not just one
    return RetryClass.NEVER


def _classify_known_code(code: int) -> RetryClass | None:
    if code in _BACK_OFF:
        return RetryClass.BACK_OFF
    if code in _RETRY_NOW:
        return RetryClass.RETRY_NOW
    if code in _RETRY_AFTER_24H:
        return RetryClass.RETRY_AFTER_24H
    if code in _TEMPLATE_UNUSABLE:
        return RetryClass.TEMPLATE_UNUSABLE
    if code in _PAUSE or code in _PERMISSION_RANGE:
        return RetryClass.PAUSE_CAMPAIGN
    if code in _NEVER:
        return RetryClass.NEVER
    return None


def reason_for_code(code: int | None, fallback_message: str | None = None) -> str:
    """Short report text for an error code (sync error or async `failed` status)."""
    if code is not None:
        reason = _REASONS.get(code)
        if reason is not None:
            return reason
        if code in _PERMISSION_RANGE:
            return _PERMISSION_REASON
    if fallback_message:
        return _strip_code_prefix(fallback_message)
    return f"WhatsApp error {code}" if code is not None else "WhatsApp error"


def _strip_code_prefix(message: str) -> str:
    # Graph prefixes messages with "(#131056) "; the code is already known, the prefix is noise.
    if message.startswith("(#"):
        end = message.find(") ")
        if end != -1:
            return message[end + 2 :]
    return message


class WhatsAppError(Exception):
    """A Cloud API call that did not succeed: a Graph error envelope, a bad answer, or no answer."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        details: str | None = None,
        fbtrace_id: str | None = None,
        error_subcode: int | None = None,
        error_type: str | None = None,
        retry_class: RetryClass | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.details = details
        self.fbtrace_id = fbtrace_id
        self.error_subcode = error_subcode
        self.error_type = error_type
        self.retry_class = retry_class if retry_class is not None else classify(code, http_status)

    @property
    def human_reason(self) -> str:
        """The short text Herald shows in reports (e.g. `not a valid WhatsApp user`)."""
        if self.is_marketing_terms_refusal:
            return MARKETING_TERMS_REASON
        if self.code is None:
            # No Graph envelope: the body is a proxy page or garbage, not fit for a report.
            if self.http_status is None:
                return "could not reach WhatsApp"
            if self.http_status >= 500:
                return f"WhatsApp temporarily unavailable (HTTP {self.http_status})"
            return f"unexpected answer from WhatsApp (HTTP {self.http_status})"
        return reason_for_code(self.code, self.message)

    @property
    def is_throughput_limit(self) -> bool:
        """130429: the number sends too fast; lower its pace."""
        return self.code == THROUGHPUT_LIMIT_CODE

    @property
    def is_marketing_terms_refusal(self) -> bool:
        """The Marketing Messages API refused the number: its business has not accepted the API's terms.
        Sources word it differently (see ``MARKETING_MESSAGES_NOT_ALLOWED``): known by its text, under either code."""
        if self.code != MARKETING_MESSAGES_NOT_ALLOWED and (self.code is None or self.code not in _PERMISSION_RANGE):
            return False
        text = f"{self.message} {self.details or ''}".lower()
        return _MARKETING_TERMS_TEXT in text and "terms" in text

    @property
    def is_pair_rate_limit(self) -> bool:
        """131056: this one recipient got too many messages; delay only them."""
        return self.code == PAIR_RATE_LIMIT_CODE

    def __str__(self) -> str:
        return f"WhatsApp error code={self.code} http={self.http_status}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"WhatsAppError(code={self.code!r}, http_status={self.http_status!r}, "
            f"retry_class={self.retry_class.value!r}, message={self.message!r})"
        )

    def __reduce__(self) -> Any:
        # Keyword-only arguments would otherwise break pickling (multiprocessing, job queues).
        return (_rebuild_error, (self.message, self._state()))

    def _state(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "http_status": self.http_status,
            "details": self.details,
            "fbtrace_id": self.fbtrace_id,
            "error_subcode": self.error_subcode,
            "error_type": self.error_type,
            "retry_class": self.retry_class,
        }


class RefusedByPolicy(WhatsAppError):
    """The outbound URL policy refused the call before anything was sent (see herald.kit.outbound).

    Retrying cannot help until the number's Graph API base changes: campaigns pause, with this reason.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_class=RetryClass.PAUSE_CAMPAIGN)

    @property
    def human_reason(self) -> str:
        return self.message

    def __reduce__(self) -> Any:
        return (RefusedByPolicy, (self.message,))


def _rebuild_error(message: str, state: dict[str, Any]) -> WhatsAppError:
    return WhatsAppError(message, **state)


def error_from_response(http_status: int, body: bytes) -> WhatsAppError:
    """Turn a non-2xx Graph answer into a WhatsAppError, tolerating bodies that are not envelopes."""
    try:
        document = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        document = None
    envelope = document.get("error") if isinstance(document, dict) else None
    if not isinstance(envelope, dict):
        snippet = body[:200].decode("utf-8", "replace").strip()
        return WhatsAppError(snippet or f"HTTP {http_status} without an error body", http_status=http_status)
    error_data = envelope.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else None
    return WhatsAppError(
        str(envelope.get("message") or f"HTTP {http_status}"),
        code=_as_int(envelope.get("code")),
        http_status=http_status,
        details=details if isinstance(details, str) else None,
        fbtrace_id=_as_str(envelope.get("fbtrace_id")),
        error_subcode=_as_int(envelope.get("error_subcode")),
        error_type=_as_str(envelope.get("type")),
    )


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdecimal():
        return int(value)
    return None


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None
