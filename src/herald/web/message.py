"""The wizard's message step: bindings read from the form, and the message as a contact will see it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from herald.campaigns.bindings import MEDIA_HEADERS, placeholder_order
from herald.campaigns.schemas import VariableBinding
from herald.dispatch.render import MissingValue, render_parameters
from herald.models import Template
from herald.templates.parsing import body_text

_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
SOURCES = (("text", "Free text"), ("contact_name", "Contact name"), ("valued_tag", "Valued tag"))


def split_template_key(key: str) -> tuple[str, str] | None:
    name, sep, language = key.partition("|")
    return (name, language) if sep and name and language else None


def positions(template: Template | None) -> list[str]:
    return sorted((str(v) for v in template.variables or []), key=placeholder_order) if template else []


def bindings_from_form(form: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    """Each placeholder's binding from ``var_N_*`` fields; an incomplete one is left out (shown as missing)."""
    bound: dict[str, dict[str, Any]] = {}
    for name in names:
        source = str(form.get(f"var_{name}_source") or "")
        raw = {"source": source, "value": form.get(f"var_{name}_value") or None,
               "key": (form.get(f"var_{name}_key") or "").strip() or None,
               "fallback": (form.get(f"var_{name}_fallback") or "").strip() or None}
        try:
            bound[name] = VariableBinding(**raw).stored()
        except ValidationError:
            continue
    return bound


@dataclass
class Segment:
    """A piece of the body: literal text, or a placeholder's value (``missing`` when it cannot render)."""

    text: str
    placeholder: str | None = None
    missing: bool = False


@dataclass
class MessagePreview:
    header_format: str | None = None
    header_text: str | None = None
    body: list[Segment] = field(default_factory=list)
    footer: str | None = None
    buttons: list[str] = field(default_factory=list)

    @property
    def needs_media(self) -> bool:
        return self.header_format in MEDIA_HEADERS


def _component(template: Template, kind: str) -> dict[str, Any] | None:
    for component in template.components or []:
        if str(component.get("type", "")).upper() == kind:
            return dict(component)
    return None


def _value(name: str, bindings: dict[str, dict[str, Any]], sample: tuple[str | None, dict[str, str]] | None) -> Segment:
    binding = bindings.get(name)
    if binding is None:
        return Segment(f"{{{{{name}}}}}", name, missing=True)
    contact_name, valued = sample if sample else (None, {})
    if sample is None and binding["source"] == "valued_tag":
        return Segment(f"[{binding['key']}]", name)
    try:
        return Segment(render_parameters([name], bindings, name=contact_name, valued_tags=valued)[0], name)
    except MissingValue as exc:
        return Segment(f"[{exc.reason}]", name, missing=True)


def preview(template: Template, bindings: dict[str, dict[str, Any]],
            sample: tuple[str | None, dict[str, str]] | None) -> MessagePreview:
    """The message for ``sample`` (the segment's first contact), each placeholder rendered as the engine would."""
    header = _component(template, "HEADER")
    footer = _component(template, "FOOTER")
    buttons = _component(template, "BUTTONS")
    result = MessagePreview(
        header_format=template.header_format,
        header_text=str(header.get("text")) if header and header.get("text") else None,
        footer=str(footer.get("text")) if footer and footer.get("text") else None,
        buttons=[str(b.get("text", "")) for b in (buttons or {}).get("buttons", [])],
    )
    text = body_text(template.components or []) or ""
    cursor = 0
    for match in _PLACEHOLDER.finditer(text):
        result.body.append(Segment(text[cursor:match.start()]))
        result.body.append(_value(match.group(1), bindings, sample))
        cursor = match.end()
    result.body.append(Segment(text[cursor:]))
    return result
