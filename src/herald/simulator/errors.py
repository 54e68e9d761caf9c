"""Graph API errors: the synchronous envelope and the asynchronous `errors[]` of failed statuses."""

from __future__ import annotations

import secrets
from typing import Any

ERROR_DOCS_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

# Titles as Meta words them; the simulator's details add the concrete cause.
TITLES: dict[int, str] = {
    0: "AuthException",
    100: "Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    130429: "Rate limit hit",
    130472: "User's number is part of an experiment",
    131000: "Something went wrong",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing "
    "messages on WhatsApp from your business.",
    131051: "Unsupported message type",
    131053: "Media upload error",
    131055: "Method not allowed",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132012: "Parameter format does not match format in the created template",
    132015: "Template is Paused",
    132016: "Template is Disabled",
}

HTTP_STATUS: dict[int, int] = {190: 401, 0: 401, 132001: 404, 131000: 500, 131057: 500}


def new_trace_id() -> str:
    return secrets.token_urlsafe(16)


class GraphError(Exception):
    """A synchronous Graph API error; `envelope()` is the exact body Meta returns."""

    def __init__(self, code: int, details: str, *, message: str | None = None, subcode: int | None = None,
                 full_message: str | None = None, http_status: int | None = None):
        super().__init__(f"({code}) {details}")
        self.code = code
        self.details = details
        self.title = message or TITLES.get(code, "Error")
        self.subcode = subcode
        # Meta's whole ``message`` when it does not read "(#code) title" (the Marketing Messages API's terms).
        self.full_message = full_message
        self._http_status = http_status

    @property
    def http_status(self) -> int:
        return self._http_status or HTTP_STATUS.get(self.code, 400)

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.full_message or f"(#{self.code}) {self.title}",
            "type": "OAuthException",
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": new_trace_id(),
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}


def unknown_object(object_id: str) -> GraphError:
    details = (
        f"Unsupported request - method type: post. Object with ID '{object_id}' does not exist, "
        "cannot be loaded due to missing permissions, or does not support this operation."
    )
    return GraphError(100, details, message=details, subcode=33)


def bad_token(details: str = "Invalid OAuth access token.") -> GraphError:
    return GraphError(190, details)


# Details Meta gives in async failures; our campaign code branches on code and details.
ASYNC_DETAILS: dict[int, str] = {
    130472: "Message was not sent as part of an experiment.",
    131026: "Unable to deliver message. Reasons can include: the recipient phone number is not a "
    "WhatsApp phone number; the recipient has not accepted the new Terms of Service.",
    131049: "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    131050: "The recipient has chosen to stop receiving marketing messages from your business.",
    131053: "Downloading media from weblink failed or the media id is unknown or expired.",
    132015: "Template is paused due to low quality so it cannot be sent in a template message.",
}


def status_error(code: int, form: str) -> dict[str, Any]:
    """One item of a failed status's `errors[]`, in the old `{code,title}` or the new long form."""
    title = TITLES.get(code, "Error")
    if form == "old":
        return {"code": code, "title": title}
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": ASYNC_DETAILS.get(code, title)},
        "href": ERROR_DOCS_HREF,
    }
