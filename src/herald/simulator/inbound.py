"""What simulated users do: write, tap quick replies, stop marketing (template events: ``account_events``)."""

from __future__ import annotations

from typing import Any

from herald.simulator.errors import status_error
from herald.simulator.scenario import digits
from herald.simulator.state import SimState
from herald.simulator.webhooks import Update

FREE_TEXT_REPLIES = ("Thanks!", "Tell me more", "How much is it?", "ok", "Is this still available?")


def user_contact(state: SimState, wa_id: str, *, hide_phone: bool = False, user_id: str | None = None) -> dict[str, Any]:
    """The webhook's ``contacts`` entry; ``user_id`` names a user the simulator knows only by a BSUID
    a business sent to (no phone at all)."""
    name = f"Sim User {(wa_id or user_id or '')[-4:]}"
    contact: dict[str, Any] = {"profile": {"name": name}, "wa_id": "" if hide_phone or not wa_id else wa_id}
    if user_id is not None:
        contact["user_id"] = user_id
    elif state.scenario.bsuid_mode or hide_phone:
        contact["user_id"] = state.bsuid(wa_id)
    return contact


def inbound_update(
    state: SimState,
    phone_number_id: str,
    wa_id: str,
    content: dict[str, Any],
    *,
    context_id: str | None = None,
    hide_phone: bool = False,
    user_id: str | None = None,
    system: bool = False,
    with_contacts: bool = True,
) -> tuple[str, Update]:
    """An inbound `messages` update; emitting it opens the 24 h customer-service window. A user known
    only by ``user_id`` (no ``wa_id``) writes with an empty ``from`` and that ``from_user_id``.

    ``system``: a message from WhatsApp itself (number or identity changed), which opens no window;
    a changed number comes without the `contacts` array (``with_contacts``), as Meta documents it.
    """
    wamid = state.next_wamid(wa_id, inbound=True)
    state.inbound_ids[wamid] = (phone_number_id, wa_id)
    contact = user_contact(state, wa_id, hide_phone=hide_phone, user_id=user_id)
    item: dict[str, Any] = {"from": contact["wa_id"], "id": wamid, **content}
    if "user_id" in contact:
        item["from_user_id"] = contact["user_id"]
    if context_id:
        number = state.number(phone_number_id)
        item["context"] = {"from": digits(number.display_phone_number) if number else "", "id": context_id}
    if system:
        return wamid, Update(phone_number_id, "messages", "messages", item, contact if with_contacts else None,
                             stamp=True)

    def opens_window(now: float) -> None:
        state.last_inbound[(phone_number_id, wa_id or contact.get("user_id", ""))] = now

    update = Update(phone_number_id, "messages", "messages", item, contact, stamp=True, on_emit=opens_window)
    return wamid, update


def value_errors_updates(phone_number_id: str, codes: list[int]) -> list[Update]:
    """A `messages` change whose value carries only `errors[]` (no message, no status): how Meta reports
    a system- or account-level problem (messages webhook reference, "errors"). Emitted together, the
    updates share one change (``webhooks.build_envelope`` groups items of one kind)."""
    return [Update(phone_number_id, "messages", "errors", status_error(code, "new")) for code in codes]


def content_for(
    text: str | None = None,
    button_payload: str | None = None,
    button_text: str | None = None,
    interactive: dict[str, Any] | None = None,
    unsupported: bool = False,
) -> dict[str, Any]:
    """The type-specific part of an inbound message (docs/architecture.md, "Webhooks")."""
    if button_payload is not None:
        return {"type": "button", "button": {"payload": button_payload, "text": button_text or button_payload}}
    if interactive is not None:
        return {"type": "interactive", "interactive": interactive}
    if unsupported:
        return {"type": "unsupported", "errors": [status_error(131051, "new")]}
    return {"type": "text", "text": {"body": text or ""}}


def preference_update(state: SimState, phone_number_id: str, wa_id: str, value: str) -> Update:
    state.stopped_live[wa_id] = value == "stop"
    detail = ("User requested to stop marketing messages" if value == "stop"
              else "User requested to resume marketing messages")
    item = {"wa_id": wa_id, "category": "marketing_messages", "value": value, "detail": detail,
            "timestamp": int(state.now())}
    contact: dict[str, Any] = {"wa_id": wa_id}
    if state.scenario.bsuid_mode:
        contact["user_id"] = state.bsuid(wa_id)
    return Update(phone_number_id, "user_preferences", "user_preferences", item, contact)

