"""Domain errors for calls Herald makes to WhatsApp on a user's behalf, and what a user may read of them."""

from __future__ import annotations

from typing import Any

from herald.kit.errors import HeraldError
from herald.whatsapp import RefusedByPolicy, WhatsAppError
from herald.whatsapp.client import DEFAULT_GRAPH_API_BASE


def unreachable(graph_api_base: str) -> str:
    return f"could not reach the Graph API at {graph_api_base}: connection failed"


def graph_timeout(graph_api_base: str, seconds: float) -> str:
    """A Graph call that took too long, said as `graph_failure` would (fixed for a base other than Meta's)."""
    if graph_api_base == DEFAULT_GRAPH_API_BASE:
        return f"WhatsApp did not answer within {seconds:g} seconds"
    return unreachable(graph_api_base)


def graph_failure(graph_api_base: str, exc: WhatsAppError) -> str:
    """What a user may read about a failed Graph call to `graph_api_base`.

    A Graph error envelope (it has a code) is shown in Graph's words. Anything else (no connection,
    a timeout, an answer that is not the Graph API's) reads as Meta's short summary for Meta's
    API and as one fixed sentence for any other base: a number's graph_api_base must not serve to
    learn which hosts and ports answer, nor what they say.
    """
    if isinstance(exc, RefusedByPolicy):
        return exc.message
    if exc.code is not None:
        return f"{exc.human_reason} ({exc.message})"
    if graph_api_base == DEFAULT_GRAPH_API_BASE:
        return exc.human_reason
    return unreachable(graph_api_base)


def graph_failure_details(graph_api_base: str, exc: WhatsAppError) -> dict[str, Any] | None:
    """Graph's code, HTTP status and trace id, when `graph_failure` may show Graph's own words."""
    if exc.code is None and graph_api_base != DEFAULT_GRAPH_API_BASE:
        return None
    return {"whatsapp_code": exc.code, "http_status": exc.http_status, "fbtrace_id": exc.fbtrace_id}


class WhatsAppCallFailed(HeraldError):
    """WhatsApp (or the simulator) refused or did not answer a call the user asked for."""

    status_code = 502
    code = "whatsapp_error"

    @classmethod
    def wrap(cls, action: str, graph_api_base: str, exc: WhatsAppError) -> WhatsAppCallFailed:
        return cls(
            f"{action} failed: {graph_failure(graph_api_base, exc)}",
            details=graph_failure_details(graph_api_base, exc),
        )
