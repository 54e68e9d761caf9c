"""The checks Meta runs on what other clients send besides templates: free-form messages and read receipts.

Herald sends templates (``sending._validate_template``, the hot path, untouched by this module) and
text; bots and other clients (pywa, Meta's SDKs) also send media, interactive messages, reactions,
locations and contacts, and mark messages read. ``CHECKS`` maps each message ``type`` to one
function that raises ``GraphError`` with the field named. Codes (Meta's error code reference,
https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/):
a missing parameter is 100 ("The parameter … is required"), a value outside Meta's limits is 131009
("Parameter value is not valid"), a type Cloud API cannot send is 131051 ("Unsupported message type").
Limits are those of Meta's pages per message type
(https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/, e.g.
``interactive-reply-buttons-messages``) and of the typing indicators guide (``typing-indicators``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from herald.simulator.errors import GraphError
from herald.simulator.scenario import PhoneNumber
from herald.simulator.state import SimState

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
CAPTIONED = frozenset({"image", "video", "document"})
TEXT_MAX, CAPTION_MAX, BODY_MAX, FOOTER_MAX, HEADER_TEXT_MAX = 4096, 1024, 1024, 60, 60
LIST_BODY_MAX = 4096
REPLY_BUTTONS_MAX, BUTTON_TITLE_MAX, BUTTON_ID_MAX = 3, 20, 256
LIST_BUTTON_MAX, SECTIONS_MAX, ROWS_MAX, SECTION_TITLE_MAX = 20, 10, 10, 24
ROW_ID_MAX, ROW_TITLE_MAX, ROW_DESCRIPTION_MAX = 200, 24, 72
CTA_TEXT_MAX, FLOW_CTA_MAX = 20, 30
INTERACTIVE_HEADER_TYPES = frozenset({"text", "image", "video", "document"})
EMOJI_MAX_CODE_POINTS = 8  # one emoji, with skin tone and joiners; "" removes a reaction


def missing(path: str) -> GraphError:
    return GraphError(100, f"The parameter {path} is required.")


def invalid(path: str, why: str) -> GraphError:
    return GraphError(131009, f"Parameter value is not valid: {path} {why}.")


def _object(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        raise missing(path)
    if not isinstance(value, dict):
        raise GraphError(100, f"Invalid parameter {path}: expected an object.")
    return value


def _text(parent: dict[str, Any], key: str, path: str, limit: int, *, required: bool = True) -> str | None:
    value = parent.get(key)
    if value is None or value == "":
        if required:
            raise missing(path)
        return None
    if not isinstance(value, str):
        raise GraphError(100, f"Invalid parameter {path}: expected a string.")
    if len(value) > limit:
        raise invalid(path, f"is {len(value)} characters long; at most {limit} are allowed")
    return value


def _url(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")) or len(value) < 12:
        raise invalid(path, "must be an http or https URL")
    return value


def check_text(body: dict[str, Any]) -> str | None:
    text = _object(body, "text", "text")
    if "preview_url" in text and not isinstance(text["preview_url"], bool):
        raise GraphError(100, "Invalid parameter text['preview_url']: expected a boolean.")
    return _text(text, "body", "text['body']", TEXT_MAX)


def _media_check(kind: str) -> Callable[[dict[str, Any]], str | None]:
    def check(body: dict[str, Any]) -> str | None:
        media = _object(body, kind, kind)
        media_id, link = media.get("id"), media.get("link")
        if not media_id and not link:
            raise missing(f"{kind}['id'] or {kind}['link']")
        if media_id and link:
            raise invalid(kind, "takes either id or link, not both")
        if link:
            _url(link, f"{kind}['link']")
        elif not isinstance(media_id, str | int):
            raise GraphError(100, f"Invalid parameter {kind}['id']: expected a string.")
        caption = _text(media, "caption", f"{kind}['caption']", CAPTION_MAX, required=False) if kind in CAPTIONED \
            else None
        if kind == "document":
            _text(media, "filename", "document['filename']", 240, required=False)
        return caption
    return check


def check_reaction(body: dict[str, Any]) -> str | None:
    reaction = _object(body, "reaction", "reaction")
    _text(reaction, "message_id", "reaction['message_id']", 512)
    emoji = reaction.get("emoji")
    if not isinstance(emoji, str):
        raise missing("reaction['emoji']")
    if len(emoji) > EMOJI_MAX_CODE_POINTS or any(ch.isascii() and ch.isalnum() for ch in emoji):
        raise invalid("reaction['emoji']", "must be a single emoji, or empty to remove the reaction")
    return emoji or None


def check_location(body: dict[str, Any]) -> str | None:
    place = _object(body, "location", "location")
    for key, bound in (("latitude", 90.0), ("longitude", 180.0)):
        value = place.get(key)
        if value is None:
            raise missing(f"location['{key}']")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise invalid(f"location['{key}']", "must be a number") from None
        if math.isnan(number) or not -bound <= number <= bound:
            raise invalid(f"location['{key}']", f"must be between -{bound:g} and {bound:g}")
    _text(place, "name", "location['name']", 1000, required=False)
    _text(place, "address", "location['address']", 1000, required=False)
    return place.get("name")


def check_contacts(body: dict[str, Any]) -> str | None:
    cards = body.get("contacts")
    if not cards:
        raise missing("contacts")
    if not isinstance(cards, list):
        raise GraphError(100, "Invalid parameter contacts: expected a list.")
    names = []
    for index, card in enumerate(cards):
        if not isinstance(card, dict):
            raise GraphError(100, f"Invalid parameter contacts[{index}]: expected an object.")
        name = _object(card, "name", f"contacts[{index}]['name']")
        names.append(_text(name, "formatted_name", f"contacts[{index}]['name']['formatted_name']", 1000))
        for p, phone in enumerate(card.get("phones") or []):
            if not isinstance(phone, dict) or not (phone.get("phone") or phone.get("wa_id")):
                raise missing(f"contacts[{index}]['phones'][{p}]['phone']")
    return ", ".join(n for n in names if n)


def check_interactive(body: dict[str, Any]) -> str | None:
    interactive = _object(body, "interactive", "interactive")
    kind = interactive.get("type")
    if not kind:
        raise missing("interactive['type']")
    check = INTERACTIVE_CHECKS.get(str(kind))
    if check is None:
        raise invalid("interactive['type']", f"'{kind}' is not one of {', '.join(INTERACTIVE_CHECKS)}")
    action = _object(interactive, "action", "interactive['action']")
    limit = LIST_BODY_MAX if kind == "list" else BODY_MAX
    text = None
    if kind != "product" or "body" in interactive:  # a single-product message may go without a body
        text = _text(_object(interactive, "body", "interactive['body']"), "text", "interactive['body']['text']",
                     limit)
    if "footer" in interactive:
        _text(_object(interactive, "footer", "interactive['footer']"), "text", "interactive['footer']['text']",
              FOOTER_MAX)
    if "header" in interactive:
        _check_header(_object(interactive, "header", "interactive['header']"), str(kind))
    check(action)
    return text


def _check_header(header: dict[str, Any], kind: str) -> None:
    header_type = header.get("type")
    allowed = {"text"} if kind == "list" else INTERACTIVE_HEADER_TYPES
    if header_type not in allowed:
        raise invalid("interactive['header']['type']", f"must be one of {', '.join(sorted(allowed))}")
    if header_type == "text":
        _text(header, "text", "interactive['header']['text']", HEADER_TEXT_MAX)
    else:
        _media_check(str(header_type))(header)


def _check_buttons(action: dict[str, Any]) -> None:
    buttons = action.get("buttons")
    if not buttons:
        raise missing("interactive['action']['buttons']")
    if not isinstance(buttons, list) or len(buttons) > REPLY_BUTTONS_MAX:
        raise invalid("interactive['action']['buttons']", f"must hold 1 to {REPLY_BUTTONS_MAX} buttons")
    ids, titles = set(), set()
    for index, button in enumerate(buttons):
        path = f"interactive['action']['buttons'][{index}]"
        if not isinstance(button, dict) or button.get("type") != "reply":
            raise invalid(f"{path}['type']", "must be 'reply'")
        reply = _object(button, "reply", f"{path}['reply']")
        button_id = _text(reply, "id", f"{path}['reply']['id']", BUTTON_ID_MAX)
        title = _text(reply, "title", f"{path}['reply']['title']", BUTTON_TITLE_MAX)
        if button_id in ids or title in titles:
            raise invalid(path, "repeats the id or title of another button")
        ids.add(button_id)
        titles.add(title)


def _check_list(action: dict[str, Any]) -> None:
    _text(action, "button", "interactive['action']['button']", LIST_BUTTON_MAX)
    sections = action.get("sections")
    if not sections:
        raise missing("interactive['action']['sections']")
    if not isinstance(sections, list) or len(sections) > SECTIONS_MAX:
        raise invalid("interactive['action']['sections']", f"must hold 1 to {SECTIONS_MAX} sections")
    row_ids: set[str | None] = set()
    for s, section in enumerate(sections):
        path = f"interactive['action']['sections'][{s}]"
        if not isinstance(section, dict):
            raise GraphError(100, f"Invalid parameter {path}: expected an object.")
        _text(section, "title", f"{path}['title']", SECTION_TITLE_MAX, required=len(sections) > 1)
        rows = section.get("rows")
        if not rows or not isinstance(rows, list):
            raise missing(f"{path}['rows']")
        for r, row in enumerate(rows):
            if not isinstance(row, dict):
                raise GraphError(100, f"Invalid parameter {path}['rows'][{r}]: expected an object.")
            row_id = _text(row, "id", f"{path}['rows'][{r}]['id']", ROW_ID_MAX)
            _text(row, "title", f"{path}['rows'][{r}]['title']", ROW_TITLE_MAX)
            _text(row, "description", f"{path}['rows'][{r}]['description']", ROW_DESCRIPTION_MAX, required=False)
            if row_id in row_ids:
                raise invalid(f"{path}['rows'][{r}]['id']", "repeats the id of another row")
            row_ids.add(row_id)
    if len(row_ids) > ROWS_MAX:
        raise invalid("interactive['action']['sections']", f"hold {len(row_ids)} rows; at most {ROWS_MAX} are allowed")


def _named_action(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def parameters(action: dict[str, Any]) -> dict[str, Any]:
        if action.get("name") != name:
            raise invalid("interactive['action']['name']", f"must be '{name}'")
        return _object(action, "parameters", "interactive['action']['parameters']")
    return parameters


def _check_cta_url(action: dict[str, Any]) -> None:
    parameters = _named_action("cta_url")(action)
    _text(parameters, "display_text", "interactive['action']['parameters']['display_text']", CTA_TEXT_MAX)
    _url(parameters.get("url"), "interactive['action']['parameters']['url']")


def _check_flow(action: dict[str, Any]) -> None:
    parameters = _named_action("flow")(action)
    path = "interactive['action']['parameters']"
    if not parameters.get("flow_id") and not parameters.get("flow_name"):
        raise missing(f"{path}['flow_id'] or {path}['flow_name']")
    _text(parameters, "flow_cta", f"{path}['flow_cta']", FLOW_CTA_MAX)
    version = parameters.get("flow_message_version")
    if str(version) != "3":
        raise invalid(f"{path}['flow_message_version']", "must be '3'")
    if parameters.get("flow_action", "navigate") not in ("navigate", "data_exchange"):
        raise invalid(f"{path}['flow_action']", "must be 'navigate' or 'data_exchange'")
    if parameters.get("mode", "published") not in ("draft", "published"):
        raise invalid(f"{path}['mode']", "must be 'draft' or 'published'")


def _check_location_request(action: dict[str, Any]) -> None:
    if action.get("name") != "send_location":
        raise invalid("interactive['action']['name']", "must be 'send_location'")


def _check_product(action: dict[str, Any]) -> None:
    _text(action, "catalog_id", "interactive['action']['catalog_id']", 64)
    _text(action, "product_retailer_id", "interactive['action']['product_retailer_id']", 100)


def _check_product_list(action: dict[str, Any]) -> None:
    _text(action, "catalog_id", "interactive['action']['catalog_id']", 64)
    sections = action.get("sections")
    if not sections or not isinstance(sections, list):
        raise missing("interactive['action']['sections']")
    for s, section in enumerate(sections):
        items = section.get("product_items") if isinstance(section, dict) else None
        if not items or not isinstance(items, list):
            raise missing(f"interactive['action']['sections'][{s}]['product_items']")


def _check_catalog(action: dict[str, Any]) -> None:
    if action.get("name") != "catalog_message":
        raise invalid("interactive['action']['name']", "must be 'catalog_message'")


INTERACTIVE_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "button": _check_buttons,
    "list": _check_list,
    "cta_url": _check_cta_url,
    "flow": _check_flow,
    "location_request_message": _check_location_request,
    "product": _check_product,
    "product_list": _check_product_list,
    "catalog_message": _check_catalog,
}

# type -> check returning a short text for `/_sim/messages` (the text, caption, body or emoji).
CHECKS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "text": check_text,
    **{kind: _media_check(kind) for kind in MEDIA_TYPES},
    "reaction": check_reaction,
    "location": check_location,
    "contacts": check_contacts,
    "interactive": check_interactive,
}


def check_message(kind: str, body: dict[str, Any]) -> str | None:
    """Meta's synchronous checks for a free-form message of this type."""
    check = CHECKS.get(kind)
    if check is None:
        raise GraphError(131051, f"Message type '{kind}' is not supported; supported types are template, "
                                 f"{', '.join(CHECKS)}.")
    context = body.get("context")
    if context is not None and (not isinstance(context, dict) or not isinstance(context.get("message_id"), str)):
        raise GraphError(100, "Invalid parameter context: expected an object with a message_id.")
    return check(body)


def media_id_of(kind: str, body: dict[str, Any]) -> str | None:
    """The uploaded media a media message uses (a link is fetched by Meta later, assumed good)."""
    if kind not in MEDIA_TYPES:
        return None
    media_id = (body.get(kind) or {}).get("id")
    return str(media_id) if media_id else None


def mark_read(state: SimState, number: PhoneNumber, body: dict[str, Any]) -> dict[str, Any]:
    """`{"status": "read", "message_id": …}`: blue ticks on a message the user sent to this number,
    optionally with a typing indicator (Meta's typing indicators guide). No webhook follows."""
    if body.get("status") != "read":
        raise invalid("status", "must be 'read'")
    message_id = body.get("message_id")
    if not message_id or not isinstance(message_id, str):
        raise missing("message_id")
    known = state.inbound_ids.get(message_id)
    if known is None or known[0] != number.phone_number_id:
        raise GraphError(100, f"Invalid parameter message_id: '{message_id}' is not a message received by "
                              f"this phone number.")
    indicator = body.get("typing_indicator")
    if indicator is not None and (not isinstance(indicator, dict) or indicator.get("type") != "text"):
        raise invalid("typing_indicator['type']", "must be 'text'")
    state.marked_read += 1
    return {"success": True}
