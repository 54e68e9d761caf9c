"""Template catalog: listing with Graph paging, and the checks Meta runs on a template send."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from herald.simulator.errors import GraphError

_POSITIONAL = re.compile(r"\{\{\s*(\d+)\s*\}\}")
_NAMED = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
MEDIA_HEADER_FORMATS = {"IMAGE", "VIDEO", "DOCUMENT"}
SENDABLE_STATUSES = {"APPROVED"}


@dataclass
class TemplateSpec:
    """What a send must match, derived once from the Graph-shaped template."""

    raw: dict[str, Any]
    name: str
    language: str
    status: str
    category: str
    parameter_format: str
    body_params: list[str]
    header_format: str | None
    header_params: list[str]
    quick_replies: list[str]
    waba_id: str | None


@dataclass
class SendComponents:
    """The parts of a template send the simulator records and reacts to."""

    body_parameters: list[str] = field(default_factory=list)
    named_parameters: dict[str, str] = field(default_factory=dict)
    header: dict[str, Any] | None = None
    buttons: list[dict[str, Any]] = field(default_factory=list)


def _placeholders(text: str, parameter_format: str) -> list[str]:
    pattern = _POSITIONAL if parameter_format == "POSITIONAL" else _NAMED
    seen: list[str] = []
    for match in pattern.findall(text or ""):
        if match not in seen:
            seen.append(match)
    return seen


def _infer_format(components: list[dict[str, Any]]) -> str:
    texts = " ".join(str(c.get("text", "")) for c in components)
    return "NAMED" if _NAMED.search(texts) and not _POSITIONAL.search(texts) else "POSITIONAL"


def build_spec(raw: dict[str, Any]) -> TemplateSpec:
    components = raw.get("components", [])
    parameter_format = str(raw.get("parameter_format") or _infer_format(components)).upper()
    spec = TemplateSpec(
        raw=raw, name=str(raw["name"]), language=str(raw.get("language", "en_US")),
        status=str(raw.get("status", "APPROVED")).upper(), category=str(raw.get("category", "MARKETING")).upper(),
        parameter_format=parameter_format, body_params=[], header_format=None, header_params=[],
        quick_replies=[], waba_id=str(raw["waba_id"]) if raw.get("waba_id") else None,
    )
    for component in components:
        kind = str(component.get("type", "")).upper()
        if kind == "BODY":
            spec.body_params = _placeholders(component.get("text", ""), parameter_format)
        elif kind == "HEADER":
            spec.header_format = str(component.get("format", "TEXT")).upper()
            if spec.header_format == "TEXT":
                spec.header_params = _placeholders(component.get("text", ""), parameter_format)
        elif kind == "BUTTONS":
            spec.quick_replies = [
                str(b.get("text", "")) for b in component.get("buttons", [])
                if str(b.get("type", "")).upper() == "QUICK_REPLY"
            ]
    return spec


class TemplateCatalog:
    def __init__(self, templates: list[dict[str, Any]]):
        self.specs: list[TemplateSpec] = []
        for index, raw in enumerate(templates):
            raw = dict(raw)
            raw.setdefault("id", str(900_000 + index))
            raw.setdefault("status", "APPROVED")
            raw.setdefault("category", "MARKETING")
            self.specs.append(build_spec(raw))

    def visible_to(self, waba_id: str) -> list[TemplateSpec]:
        return [s for s in self.specs if s.waba_id in (None, waba_id)]

    def find(self, waba_id: str, name: str, language: str) -> TemplateSpec | None:
        for spec in self.visible_to(waba_id):
            if spec.name == name and spec.language == language:
                return spec
        return None

    def page(self, waba_id: str, query: dict[str, str], url: str) -> dict[str, Any]:
        """One page of `GET /{waba}/message_templates`, with Graph's cursor paging."""
        specs = [s for s in self.visible_to(waba_id) if _matches(s, query)]
        limit = max(1, min(int(query.get("limit") or 25), 1000))
        after = query.get("after")
        start = _decode_cursor(after) if after else 0
        chunk = specs[start:start + limit]
        fields = [f for f in (query.get("fields") or "").split(",") if f]
        body: dict[str, Any] = {"data": [_project(s.raw, fields) for s in chunk]}
        if chunk:
            paging: dict[str, Any] = {"cursors": {"before": _encode_cursor(start),
                                                  "after": _encode_cursor(start + len(chunk))}}
            if start + len(chunk) < len(specs):
                paging["next"] = _next_url(url, query, _encode_cursor(start + len(chunk)))
            body["paging"] = paging
        return body


def _matches(spec: TemplateSpec, query: dict[str, str]) -> bool:
    return (
        (not query.get("status") or spec.status in query["status"].upper().split(","))
        and (not query.get("name") or query["name"] in spec.name)
        and (not query.get("language") or spec.language == query["language"])
    )


def _project(raw: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    public = {k: v for k, v in raw.items() if k != "waba_id"}
    if not fields:
        return public
    return {k: v for k, v in public.items() if k in fields or k == "id"}


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise GraphError(100, f"Invalid cursor '{cursor}'") from exc


def _next_url(url: str, query: dict[str, str], after: str) -> str:
    params = {k: v for k, v in query.items() if k not in ("after", "before")}
    params["after"] = after
    return f"{url.split('?', 1)[0]}?{urlencode(params)}"


def check_sendable(spec: TemplateSpec) -> None:
    if spec.status == "PAUSED":
        raise GraphError(132015, f"Template {spec.name} ({spec.language}) is paused due to low quality.")
    if spec.status == "DISABLED":
        raise GraphError(132016, f"Template {spec.name} ({spec.language}) is disabled.")
    if spec.status not in SENDABLE_STATUSES:
        raise GraphError(132001, f"template name ({spec.name}) in {spec.language} is not approved "
                                 f"(status {spec.status})", )


def parameter_text(param: dict[str, Any]) -> str:
    kind = str(param.get("type", ""))
    if kind == "text":
        return str(param.get("text", ""))
    if kind in ("currency", "date_time"):
        return str((param.get(kind) or {}).get("fallback_value", ""))
    if kind == "coupon_code":
        return str(param.get("coupon_code", ""))
    if kind == "payload":
        return str(param.get("payload", ""))
    return str(param.get(kind, ""))


def validate_components(spec: TemplateSpec, components: list[dict[str, Any]]) -> SendComponents:
    """Match the send's components against the template like Meta does; raise GraphError on mismatch."""
    sent = SendComponents()
    by_type: dict[str, dict[str, Any]] = {}
    for component in components:
        kind = str(component.get("type", "")).lower()
        if kind == "button":
            sent.buttons.append(_button(component))
        else:
            by_type[kind] = component
    body = by_type.get("body", {}).get("parameters", [])
    sent.body_parameters, sent.named_parameters = _check_params(spec, "body", spec.body_params, body)
    sent.header = _check_header(spec, by_type.get("header", {}).get("parameters", []))
    return sent


def _button(component: dict[str, Any]) -> dict[str, Any]:
    params = component.get("parameters", [])
    return {
        "index": str(component.get("index", "0")),
        "sub_type": str(component.get("sub_type", "")).lower(),
        "payload": parameter_text(params[0]) if params else None,
    }


def _check_params(spec: TemplateSpec, where: str, expected: list[str],
                  params: list[dict[str, Any]]) -> tuple[list[str], dict[str, str]]:
    named = [p for p in params if p.get("parameter_name")]
    if spec.parameter_format == "NAMED" and len(named) != len(params):
        raise GraphError(132012, f"{where}: template {spec.name} uses named parameters; "
                                 "every parameter needs parameter_name")
    if spec.parameter_format == "POSITIONAL" and named:
        raise GraphError(132012, f"{where}: template {spec.name} uses positional parameters; "
                                 "parameter_name is not expected")
    if len(params) != len(expected):
        raise GraphError(132000, f"{where}: number of localizable_params ({len(params)}) does not match "
                                 f"the expected number of params ({len(expected)})")
    values = [parameter_text(p) for p in params]
    if spec.parameter_format != "NAMED":
        return values, {}
    names = {str(p["parameter_name"]): parameter_text(p) for p in params}
    if set(names) != set(expected):
        missing = sorted(set(expected) - set(names))
        raise GraphError(132000, f"{where}: parameter names {sorted(names)} do not match the template's "
                                 f"{expected} (missing {missing})")
    return values, names


def _check_header(spec: TemplateSpec, params: list[dict[str, Any]]) -> dict[str, Any] | None:
    fmt = spec.header_format
    if fmt in MEDIA_HEADER_FORMATS:
        wanted = fmt.lower()
        media = params[0].get(wanted) if params and params[0].get("type") == wanted else None
        if not isinstance(media, dict) or not (media.get("id") or media.get("link")):
            received = str(params[0].get("type", "UNKNOWN")).upper() if params else "NONE"
            raise GraphError(132012, f"header: Format mismatch, expected {fmt}, received {received}")
        return {"type": wanted, "media_id": media.get("id"), "link": media.get("link")}
    if fmt == "TEXT":
        values, _ = _check_params(spec, "header", spec.header_params, params)
        return {"type": "text", "text": values[0]} if values else None
    return None
