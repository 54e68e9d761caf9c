"""The user's words for what the API says: field labels, the wizard's steps, and refusals.

The API keeps its machine codes, field names and messages (clients rely on them); the pages say
them in the user's words, and this module is the one place that maps one to the other.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from herald.campaigns.bindings import NO_ELIGIBLE
from herald.kit.errors import HeraldError

STEPS = (("basics", "1. Name & number"), ("audience", "2. Audience"), ("message", "3. Message"),
         ("bot", "4. Bot flow"), ("review", "5. Review"))
STEP_OF_FIELD = {"name": "basics", "whatsapp_number_id": "basics", "audience": "audience", "template": "message",
                 "header_media_id": "message", "bot_flow_id": "bot", NO_ELIGIBLE: "audience"}
FIELD_LABELS = {
    "name": "Name", "whatsapp_number_id": "WhatsApp number", "audience": "Audience", "template": "Template",
    "header_media_id": "Header media", "bot_flow_id": "Bot flow",
    NO_ELIGIBLE: "Someone to send to",
}
STATUS_LABELS = {
    "draft": "Draft", "ready": "Ready to Launch", "scheduled": "Scheduled",
    "active": "Active", "paused": "Paused", "ended": "Ended",
}
# What a transition's target status means as an action ("cannot be …").
ACTIONS = {"active": "started", "scheduled": "scheduled", "paused": "paused", "ready": "unscheduled", "ended": "ended"}
# An API field name inside a message, as the forms label that field.
WORDS_FOR_FIELDS = {
    "start_at": "the start time", "rate_per_hour": "contacts per hour", "rate_per_second": "messages per second",
    "wa_user_id": "WhatsApp user id", "whatsapp_number_id": "WhatsApp number", "bot_flow_id": "bot flow",
    "header_media_id": "header media",
}
# Messages said differently altogether: (pattern on the API's message, the page's words).
REWORDED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"start_at is in the past"), "The start time has passed: pick a later date or time."),
    (re.compile(r"start_at must be within a year from now"), "The start time must be within a year from now."),
    (re.compile(r"rate_per_hour must be between 1 and (\d+) messages/hour.*"),
     "Contacts per hour must be between 1 and {0} (the WhatsApp number's throughput)."),
)


# A schema's error types in the user's words (``ctx`` holds the limits).
PYDANTIC_WORDS = {
    "string_too_long": "At most {max_length} characters.", "string_too_short": "At least {min_length} characters.",
    "too_long": "At most {max_length} of them.", "int_parsing": "Give a whole number.",
    "float_parsing": "Give a number.", "greater_than_equal": "At least {ge}.", "less_than_equal": "At most {le}.",
}


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.title())


def field_label(field: str) -> str:
    if field.startswith("variables."):
        return "Variable {{" + field.split(".", 1)[1] + "}}"
    return FIELD_LABELS.get(field, field)


def step_of(field: str) -> str:
    return "message" if field.startswith("variables.") else STEP_OF_FIELD.get(field, "review")


def form_field(field: str) -> str:
    """The form field an API field belongs to: ``valued_tags.plan`` is the valued tags' box; a
    variable and a quality breaker threshold keep their names (each has fields of its own)."""
    return field if field.startswith(("variables.", "breaker.")) else field.split(".", 1)[0]


def missing_steps(fields: list[str]) -> str:
    """"Finish “1. Name & number” (Name, WhatsApp number) and “3. Message” (Template)"."""
    labels = dict(STEPS)
    by_step: dict[str, list[str]] = {}
    for field in fields:
        by_step.setdefault(step_of(field), []).append(field_label(field))
    order = [key for key, _ in STEPS if key in by_step]
    parts = [f"“{labels[key]}” ({', '.join(by_step[key])})" for key in order]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"The campaign is not complete: finish {listed}."


def _missing(exc: HeraldError) -> list[str]:
    details = exc.details if isinstance(exc.details, list) else []
    fields = [str(d.get("field")) for d in details if isinstance(d, dict) and d.get("message") == "missing"]
    return fields if details and len(fields) == len(details) else []


def reworded(message: str) -> str:
    """One API message in the user's words: a rewording of its own, else its field names as labels."""
    for pattern, words in REWORDED:
        if match := pattern.fullmatch(message):
            groups = [f"{int(g):,}" if g.isdigit() else g for g in match.groups()]
            return words.format(*groups)
    for name, words in WORDS_FOR_FIELDS.items():
        message = re.sub(rf"\b{name}\b", words, message)
    return message[:1].upper() + message[1:]


def user_message(exc: HeraldError) -> str:
    """The whole refusal as one sentence, for a page's notice or a redirect's flash."""
    if missing := _missing(exc):
        return missing_steps(missing)
    if exc.code == "invalid_transition" and isinstance(exc.details, dict):
        status, requested = str(exc.details.get("status")), str(exc.details.get("requested"))
        action = ACTIONS.get(requested, f"made {status_label(requested)}")
        return f"A campaign that is {status_label(status)} cannot be {action}."
    return reworded(exc.message)


def invalid_input(exc: ValidationError) -> dict[str, str]:
    """A schema's refusal (a value too long, a number that is not one) as messages per form field."""
    errors = {"": "Some fields need attention."}
    for error in exc.errors():
        field = form_field(".".join(str(p) for p in error["loc"]))
        words = PYDANTIC_WORDS.get(error["type"], "{msg}")
        errors.setdefault(field, words.format(msg=error["msg"], **(error.get("ctx") or {})))
    return errors


def user_errors(exc: HeraldError) -> dict[str, str]:
    """A refusal as messages per form field, plus ``""`` for the whole form."""
    errors: dict[str, str] = {"": user_message(exc)}
    details: list[Any] = exc.details if isinstance(exc.details, list) else []
    for detail in details:
        if isinstance(detail, dict) and detail.get("field") and detail.get("message") != "missing":
            errors.setdefault(form_field(str(detail["field"])), reworded(str(detail.get("message", ""))))
    return errors
