"""The outcomes a follow-up can be taken from (herald.campaigns.followups): each one a condition on the
parent campaign's messages, so the audience snapshot and the counts the form shows are one query each.

Decisions where issue 23 is silent (docs/campaign-features.md, "Follow-ups by outcome"):

- *not delivered* is WhatsApp's ``failed`` and Herald's ``unknown`` (no answer). Never sent
  (``not_sent``: opted out, engaged elsewhere, frequency cap, campaign ended…) is not "not delivered":
  those contacts were never tried. Left out: contacts opted out now, and failures that say the number
  cannot be reached this way (``INVALID_NUMBER_CODES``).
- *delivered, not read* and *read, not replied* are the message's status now, without a reply.
- *replied with a button*: a quick-reply tap (``button``) or an interactive reply (``interactive``)
  attributed to the campaign whose payload (or id) or text is the given button.
- *reached a step* / *did not reach a step*: the bot's funnel events; "did not reach" counts only
  contacts WhatsApp accepted the message for (the others never had the chance).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, exists, or_

from herald.kit.errors import Invalid
from herald.models import CampaignMessage, Contact, FunnelEvent, InboundMessage, MessageStatus
from herald.models.campaign_message import ACCEPTED
from herald.whatsapp.errors import reason_for_code

# Failures that say the contact cannot be reached on this number by a template: not a WhatsApp user
# (131026), or the user stopped the business's marketing messages on WhatsApp (131050).
INVALID_NUMBER_CODES = frozenset({131026, 131050})
BUTTON_TYPES = ("button", "interactive")
MAX_VALUE = 256


class Outcome(StrEnum):
    not_delivered = "not_delivered"
    delivered_not_read = "delivered_not_read"
    read_not_replied = "read_not_replied"
    replied_button = "replied_button"
    reached_step = "reached_step"
    not_reached_step = "not_reached_step"


WORDS: dict[Outcome, str] = {
    Outcome.not_delivered: "not delivered",
    Outcome.delivered_not_read: "delivered, not read",
    Outcome.read_not_replied: "read, not replied",
    Outcome.replied_button: "replied with button",
    Outcome.reached_step: "reached step",
    Outcome.not_reached_step: "did not reach step",
}
NEEDS_BUTTON = frozenset({Outcome.replied_button})
NEEDS_STEP = frozenset({Outcome.reached_step, Outcome.not_reached_step})


@dataclass(frozen=True, slots=True)
class Choice:
    """An outcome with its button or step (``value``), checked."""

    outcome: Outcome
    value: str | None = None

    @classmethod
    def of(cls, outcome: str, *, button: str | None = None, step: str | None = None) -> Choice:
        """422 naming ``outcome``, ``button`` or ``step`` when one is wrong or missing."""
        try:
            chosen = Outcome(outcome)
        except ValueError:
            raise Invalid(f"outcome must be one of {', '.join(Outcome)}", field="outcome") from None
        button, step = (v.strip() if v else None for v in (button, step))
        if chosen in NEEDS_BUTTON:
            return cls(chosen, _value(button, "button", chosen))
        if chosen in NEEDS_STEP:
            return cls(chosen, _value(step, "step", chosen))
        return cls(chosen)

    @property
    def field(self) -> str | None:
        return "button" if self.outcome in NEEDS_BUTTON else "step" if self.outcome in NEEDS_STEP else None

    def words(self) -> str:
        """``delivered, not read``, ``replied with button “Yes”``, ``reached step “paid”``."""
        text = WORDS[self.outcome]
        return f"{text} “{self.value}”" if self.value is not None else text

    def condition(self, campaign_id: int) -> ColumnElement[bool]:
        """Over ``CampaignMessage`` (of ``campaign_id``) joined to ``Contact``."""
        m = CampaignMessage
        if self.outcome is Outcome.not_delivered:
            return and_(
                m.status.in_([MessageStatus.failed.value, MessageStatus.unknown.value]),
                Contact.opted_out_at.is_(None),
                or_(m.error_code.is_(None), m.error_code.not_in(sorted(INVALID_NUMBER_CODES))),
            )
        if self.outcome is Outcome.delivered_not_read:
            return and_(m.status == MessageStatus.delivered.value, m.replied_at.is_(None))
        if self.outcome is Outcome.read_not_replied:
            return and_(m.status == MessageStatus.read.value, m.replied_at.is_(None))
        if self.outcome is Outcome.replied_button:
            return exists().where(InboundMessage.campaign_id == campaign_id,
                                  InboundMessage.contact_id == m.contact_id, is_button(self.value or ""))
        reached = exists().where(FunnelEvent.campaign_id == campaign_id, FunnelEvent.contact_id == m.contact_id,
                                 FunnelEvent.step == self.value)
        if self.outcome is Outcome.reached_step:
            return reached
        return and_(m.status.in_([s.value for s in ACCEPTED]), ~reached)


def button_key() -> ColumnElement[str]:
    """What names a tapped button: its payload (a quick reply) or id (an interactive reply)."""
    payload = InboundMessage.payload
    return payload["button_payload"].as_string()


def interactive_key() -> ColumnElement[str]:
    return InboundMessage.payload["interactive_id"].as_string()


def is_button(button: str) -> ColumnElement[bool]:
    """An inbound message that is a tap on ``button`` (its payload, id or text)."""
    return and_(
        InboundMessage.type.in_(BUTTON_TYPES),
        or_(InboundMessage.text == button, button_key() == button, interactive_key() == button),
    )


def excluded_failures() -> str:
    """The failures *not delivered* leaves out, in the report's words."""
    return ", ".join(f"{reason_for_code(code)} ({code})" for code in sorted(INVALID_NUMBER_CODES))


def _value(value: str | None, field: str, outcome: Outcome) -> str:
    if not value:
        raise Invalid(f"outcome {outcome.value} needs the {field}", field=field)
    if len(value) > MAX_VALUE:
        raise Invalid(f"{field} must be at most {MAX_VALUE} characters", field=field)
    return value
