"""The reason texts a report shows for a contact that was not sent (docs/architecture.md, "Not-sent reasons").

Stored without the ``not sent: `` prefix, which is how the stats and the CSV show them.
"""

from __future__ import annotations

OPTED_OUT = "contact opted out of marketing"
ALREADY_ENGAGED = "already part of an active campaign"
OPEN_CASE = "contact has an open case in Inbox"
CAMPAIGN_ENDED = "campaign ended"
# A contact without a phone whose WhatsApp user id is not one Meta's ``recipient`` accepts
# (docs/whatsapp.md, "Username users").
NO_ADDRESS = "contact has no phone and no WhatsApp user id to send to"
# A campaign that ends when the day's send window closes: the contact's first window since the start
# closed before the pace reached it (campaigns/send_window.py).
WINDOW_CLOSED = "send window closed before it was sent"


def valued_tag_missing(key: str) -> str:
    return f"valued tag '{key}' missing"


def frequency_cap_reached(messages: int, days: int) -> str:
    return f"frequency cap reached ({messages} in {days} {'day' if days == 1 else 'days'})"
