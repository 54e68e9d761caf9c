"""Domain errors for calls Herald makes to WhatsApp on a user's behalf."""

from __future__ import annotations

from herald.kit.errors import HeraldError
from herald.whatsapp import WhatsAppError


class WhatsAppCallFailed(HeraldError):
    """WhatsApp (or the simulator) refused or did not answer a call the user asked for."""

    status_code = 502
    code = "whatsapp_error"

    @classmethod
    def wrap(cls, action: str, exc: WhatsAppError) -> WhatsAppCallFailed:
        details = {"whatsapp_code": exc.code, "http_status": exc.http_status, "fbtrace_id": exc.fbtrace_id}
        return cls(f"{action} failed: {exc.human_reason} ({exc.message})", details=details)
