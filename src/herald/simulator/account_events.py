"""The simulated Meta's template and number webhooks, in the shapes of Meta's webhook reference.

``message_template_status_update`` (with ``other_info``, ``message_template_category`` and
``disable_info``), ``message_template_quality_update``, ``template_category_update`` (a change done,
or one announced with ``correct_category``), ``phone_number_quality_update`` (messaging limit and
quality flag) and ``account_update``: each changes what the simulator enforces where Meta does (a
paused template's sends are refused) and is emitted at once, with ``entry.time``. They are asked for
through ``/_sim/...`` control endpoints, or by the scenario (``template_events``, ``number_events``:
the same bodies with ``after_sends``, applied once that many sends were accepted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from herald.simulator.scenario import PhoneNumber, digits
from herald.simulator.templates import TemplateSpec
from herald.simulator.webhooks import Update

if TYPE_CHECKING:
    from herald.simulator.state import SimState


class EventError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# The status a template has after each event; others (FLAGGED, LOCKED, UNLOCKED…) leave it unchanged.
STATUS_AFTER = {
    "APPROVED": "APPROVED", "REINSTATED": "APPROVED", "UNARCHIVED": "APPROVED", "REJECTED": "REJECTED",
    "PAUSED": "PAUSED", "DISABLED": "DISABLED", "PENDING": "PENDING", "IN_APPEAL": "IN_APPEAL",
    "PENDING_DELETION": "PENDING_DELETION", "DELETED": "DELETED", "ARCHIVED": "ARCHIVED",
}
PAUSE_DESCRIPTION = {
    "FIRST_PAUSE": "Your message template has been paused for 3 hours because of low-quality feedback.",
    "SECOND_PAUSE": "Your message template has been paused for 6 hours because it kept getting low-quality feedback.",
    "UNPAUSE": "Your message template is no longer paused.",
}
TIERS = ("TIER_50", "TIER_250", "TIER_1K", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED")
DAY_SECONDS = 86_400


def _templates(state: SimState, body: dict[str, Any]) -> list[TemplateSpec]:
    name = body.get("name")
    specs = [s for s in state.catalog.specs if s.name == name and s.language == body.get("language", s.language)]
    if not specs:
        raise EventError("unknown template (name, language)", 404)
    return specs


def _numbers_of(state: SimState, spec: TemplateSpec) -> list[PhoneNumber]:
    """One number per WABA holding the template: its webhook goes out once per WABA."""
    seen: dict[str, PhoneNumber] = {}
    for number in state.scenario.phone_numbers:
        if spec.waba_id in (None, number.waba_id):
            seen.setdefault(number.waba_id, number)
    return list(seen.values())


def _template_ids(spec: TemplateSpec) -> dict[str, Any]:
    raw_id = str(spec.raw.get("id", ""))
    return {"message_template_id": int(raw_id) if raw_id.isdigit() else raw_id,
            "message_template_name": spec.name, "message_template_language": spec.language}


def _emit(state: SimState, number: PhoneNumber, field: str, value: dict[str, Any]) -> None:
    state.dispatcher.schedule(0, Update(number.phone_number_id, field, "", value))


def template_status(state: SimState, body: dict[str, Any]) -> dict[str, Any]:
    event = str(body.get("event") or body.get("status") or "").upper()
    if not event:
        raise EventError("'event' (or 'status') is required, e.g. PAUSED")
    specs = _templates(state, body)
    title = body.get("title")
    description = body.get("description") or PAUSE_DESCRIPTION.get(str(title or ""))
    for spec in specs:
        status = STATUS_AFTER.get(event)
        if status is not None:
            spec.status = spec.raw["status"] = status
        value: dict[str, Any] = {"event": event, **_template_ids(spec), "reason": body.get("reason") or "NONE",
                                 "message_template_category": spec.category}
        if event == "DISABLED":
            value["disable_info"] = {"disable_date": str(int(state.now()))}
        if title or description:
            value["other_info"] = {"title": title or "", "description": description or ""}
        for number in _numbers_of(state, spec):
            _emit(state, number, "message_template_status_update", value)
    return {"updated": len(specs), "event": event, "status": specs[0].status}


def template_quality(state: SimState, body: dict[str, Any]) -> dict[str, Any]:
    quality = str(body.get("quality") or "").upper()
    if quality not in ("GREEN", "YELLOW", "RED", "UNKNOWN"):
        raise EventError("'quality' must be GREEN, YELLOW, RED or UNKNOWN")
    specs = _templates(state, body)
    for spec in specs:
        previous = (spec.raw.get("quality_score") or {}).get("score", "UNKNOWN")
        spec.raw["quality_score"] = {"score": quality}
        value = {"previous_quality_score": previous, "new_quality_score": quality, **_template_ids(spec)}
        for number in _numbers_of(state, spec):
            _emit(state, number, "message_template_quality_update", value)
    return {"updated": len(specs), "quality": quality}


def template_category(state: SimState, body: dict[str, Any]) -> dict[str, Any]:
    """A change done now, or (``announce``) one Meta says it will make in 24 hours."""
    category = str(body.get("category") or "").upper()
    if category not in ("MARKETING", "UTILITY", "AUTHENTICATION"):
        raise EventError("'category' must be MARKETING, UTILITY or AUTHENTICATION")
    specs = _templates(state, body)
    for spec in specs:
        if body.get("announce"):
            value = {**_template_ids(spec), "correct_category": category, "new_category": spec.category,
                     "category_update_timestamp": int(state.now()) + DAY_SECONDS}
        else:
            value = {**_template_ids(spec), "previous_category": spec.category, "new_category": category}
            spec.category = category
            spec.raw["category"] = category
        for number in _numbers_of(state, spec):
            _emit(state, number, "template_category_update", value)
    return {"updated": len(specs), "category": category}


def _number(state: SimState, body: dict[str, Any]) -> PhoneNumber:
    phone_number_id = str(body.get("phone_number_id") or state.scenario.phone_numbers[0].phone_number_id)
    number = state.number(phone_number_id)
    if number is None:
        raise EventError(f"unknown phone_number_id {phone_number_id}", 404)
    return number


def number_quality(state: SimState, body: dict[str, Any]) -> dict[str, Any]:
    """A messaging limit change (UPGRADE, DOWNGRADE with ``tier``), a quality flag (FLAGGED,
    UNFLAGGED) or THROUGHPUT_UPGRADE; the number's tier and quality change as Meta's would."""
    number = _number(state, body)
    event = str(body.get("event") or "").upper()
    if not event:
        raise EventError("'event' is required, e.g. DOWNGRADE")
    tier = str(body.get("tier") or number.messaging_limit_tier).upper()
    if tier not in TIERS:
        raise EventError(f"'tier' must be one of {', '.join(TIERS)}")
    old = number.messaging_limit_tier
    value: dict[str, Any] = {"display_phone_number": digits(number.display_phone_number), "event": event}
    if tier != old:
        value["old_limit"] = old
    value["current_limit"] = tier
    value["max_daily_conversations_per_business"] = tier
    number.messaging_limit_tier = tier
    state.tier_changed()
    if event == "FLAGGED":
        number.quality_rating = "RED"
    elif event == "UNFLAGGED":
        number.quality_rating = str(body.get("quality") or "YELLOW").upper()
    elif event == "THROUGHPUT_UPGRADE":
        number.throughput_mps = 1000
    _emit(state, number, "phone_number_quality_update", value)
    return {"phone_number_id": number.phone_number_id, "event": event, "tier": tier,
            "quality_rating": number.quality_rating}


def account_update(state: SimState, body: dict[str, Any]) -> dict[str, Any]:
    """Any ``account_update`` event; ``details`` are merged into the value as given (restriction_info…)."""
    number = _number(state, body)
    event = str(body.get("event") or "").upper()
    if not event:
        raise EventError("'event' is required, e.g. ACCOUNT_RESTRICTION")
    details = body.get("details") or {}
    if not isinstance(details, dict):
        raise EventError("'details' must be an object")
    value: dict[str, Any] = {"event": event, **details}
    if body.get("name_number", True):
        value["phone_number"] = digits(number.display_phone_number)
    _emit(state, number, "account_update", value)
    return {"phone_number_id": number.phone_number_id, "event": event}


def scheduled(template_events: list[dict[str, Any]], number_events: list[dict[str, Any]]) -> list[tuple[int, str, dict[str, Any]]]:
    """The scenario's events, in the order they fall due: (after_sends, template|number, body)."""
    items = [(int(e.get("after_sends", 0)), "template", e) for e in template_events]
    items += [(int(e.get("after_sends", 0)), "number", e) for e in number_events]
    return sorted(items, key=lambda item: item[0])


def _apply(state: SimState, kind: str, body: dict[str, Any]) -> None:
    if kind == "template":
        handler = template_quality if "quality" in body else template_category if "category" in body else template_status
    else:
        handler = account_update if body.get("field") == "account_update" else number_quality
    handler(state, body)


def fire_due(state: SimState) -> None:
    """Applies the scenario's events whose ``after_sends`` the accepted sends reached."""
    fired = False
    while state.due_events and state.due_events[0][0] <= state.accepted:
        _, kind, body = state.due_events.pop(0)
        _apply(state, kind, body)
        fired = True
    if fired:
        state.dispatcher.wake()
