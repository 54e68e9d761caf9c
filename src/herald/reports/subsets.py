"""The subsets of a campaign's contacts that its numbers count: an outcome (a funnel bar: sent,
received, read…), a not-sent reason, a bot funnel step. One SQL condition each, on the campaign's
messages as ``p``, written from the same status sets as the counters (``campaigns/message_state.py``,
``bucket``), so a subset holds exactly the contacts its number counts.

The drill-down list (``drilldown.py``) and the subset's CSV (``export.py``) use the same condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from herald.kit.errors import Invalid
from herald.models.campaign_message import ACCEPTED, NOT_YET_SENT, RECEIVED, MessageStatus

NOT_SENT = frozenset({MessageStatus.not_sent, MessageStatus.failed})


def _among(statuses: frozenset[MessageStatus]) -> str:
    return "p.status IN (" + ", ".join(f"'{s.value}'" for s in sorted(statuses)) + ")"


# outcome → (label, condition); the labels are the stats page's words.
OUTCOMES: dict[str, tuple[str, str]] = {
    "targeted": ("Targeted", ""),
    "pending": ("Pending", _among(NOT_YET_SENT)),
    "sent": ("Sent", _among(ACCEPTED)),
    "received": ("Received", _among(RECEIVED)),
    "read": ("Read", f"p.status = '{MessageStatus.read.value}'"),
    "replied": ("Replied", f"p.replied_at IS NOT NULL AND {_among(RECEIVED)}"),
    "unknown": ("Outcome unknown", f"p.status = '{MessageStatus.unknown.value}'"),
    "not_sent": ("Not sent", _among(NOT_SENT)),
    "holdout": ("Holdout", f"p.status = '{MessageStatus.holdout.value}'"),
}
# A failed message without Meta's reason is counted under "failed" (webhooks/statuses.py).
_REASON = f"{_among(NOT_SENT)} AND coalesce(p.error_msg, 'failed') = :subset_reason"
_STEP = ("EXISTS (SELECT 1 FROM funnel_events AS fe WHERE fe.campaign_id = p.campaign_id"
         " AND fe.contact_id = p.contact_id AND fe.step = :subset_step)")
MAX_REASON = 500
MAX_STEP = 100


@dataclass(frozen=True, slots=True)
class Subset:
    """Contacts of one outcome, one not-sent reason and one funnel step, each optional (none: everyone)."""

    outcome: str | None = None
    reason: str | None = None
    step: str | None = None

    @classmethod
    def of(cls, *, outcome: str | None, reason: str | None, step: str | None) -> Subset:
        """From query parameters: blanks are left out; an unknown outcome is a 422 naming ``outcome``."""
        outcome, reason, step = (value.strip() if value else None for value in (outcome, reason, step))
        if outcome and outcome not in OUTCOMES:
            raise Invalid(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")
        if reason and len(reason) > MAX_REASON:
            raise Invalid(f"reason must be at most {MAX_REASON} characters", field="reason")
        if step and len(step) > MAX_STEP:
            raise Invalid(f"step must be at most {MAX_STEP} characters", field="step")
        return cls(outcome=outcome or None, reason=reason or None, step=step or None)

    @property
    def everyone(self) -> bool:
        return not (self.outcome or self.reason or self.step)

    def condition(self) -> str:
        """`` AND …`` to append to a WHERE on ``p`` (empty for everyone); SQLite's ``:name`` parameters."""
        parts = [OUTCOMES[self.outcome][1]] if self.outcome else []
        parts += [_REASON] if self.reason else []
        parts += [_STEP] if self.step else []
        return "".join(f" AND {part}" for part in parts if part)

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.reason:
            params["subset_reason"] = self.reason
        if self.step:
            params["subset_step"] = self.step
        return params

    def query(self) -> dict[str, str]:
        """The subset as query parameters (for links and the export)."""
        pairs = {"outcome": self.outcome, "reason": self.reason, "step": self.step}
        return {name: value for name, value in pairs.items() if value}

    def description(self) -> str:
        """In the pages' words: ``Read · reached “offer_viewed”``, ``Not sent: campaign ended``."""
        parts = [OUTCOMES[self.outcome][0]] if self.outcome else []
        if self.reason:
            parts.append(f"not sent: {self.reason}")
        if self.step:
            parts.append(f"reached “{self.step}”")
        text = " · ".join(parts) or "Every targeted contact"
        return text[0].upper() + text[1:]


def postgres(condition: str) -> str:
    """The condition with psycopg's ``%(name)s`` parameters."""
    return condition.replace(":subset_reason", "%(subset_reason)s").replace(":subset_step", "%(subset_step)s")
