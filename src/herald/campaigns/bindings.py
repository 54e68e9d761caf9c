"""Is a campaign complete, and are its bindings right? One assessment feeds draft ⇄ ready.

Something not given yet is *missing* (the campaign stays a draft); something given but wrong
(a template that cannot be used, a placeholder the template does not have, an id of another
organization) is a *problem*: saving refuses it with a 422 naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import repository, segments
from herald.campaigns.schemas import POSITIONAL
from herald.contacts.rules import valued_tag_key_problem
from herald.kit.errors import Invalid
from herald.models import Campaign, Template, WhatsAppNumber

MEDIA_HEADERS = frozenset({"IMAGE", "VIDEO", "DOCUMENT"})
# In ``missing`` when the audience is given but nobody in it can be messaged now (all opted out,
# engaged elsewhere, with an open case, or lacking a bound valued tag, or no contact matches at all).
NO_ELIGIBLE = "eligible_contacts"


@dataclass
class Draft:
    """The settings of a campaign, saved or about to be."""

    name: str = ""
    whatsapp_number_id: int | None = None
    audience: dict[str, Any] | None = None
    template_name: str | None = None
    template_language: str | None = None
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    header_media_id: int | None = None
    bot_flow_id: int | None = None
    # A follow-up's id: its audience is its snapshot (segments.segment_filter), the segment optional.
    # Not a column.
    snapshot_of: int | None = None
    holdout_percent: float = 0.0
    # A/B variants as stored (``VariantIn.stored``): a template (None: the campaign's), bindings, a share.
    variants: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, campaign: Campaign) -> Draft:
        return cls(
            name=campaign.name,
            whatsapp_number_id=campaign.whatsapp_number_id,
            audience=campaign.audience,
            template_name=campaign.template_name,
            template_language=campaign.template_language,
            variables=dict(campaign.variables or {}),
            header_media_id=campaign.header_media_id,
            bot_flow_id=campaign.bot_flow_id,
            snapshot_of=campaign.id if campaign.followup_outcome is not None else None,
            holdout_percent=campaign.holdout_percent or 0.0,
            variants=[dict(v) for v in campaign.variants] if campaign.variants else None,
        )

    def columns(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items() if name != "snapshot_of"}

    @property
    def has_audience(self) -> bool:
        """A segment, or a follow-up's snapshot (which needs none)."""
        return self.snapshot_of is not None or not segments.is_empty(self.audience)


@dataclass
class Problem:
    field: str
    message: str


@dataclass
class Assessment:
    missing: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    number: WhatsAppNumber | None = None
    template: Template | None = None

    def raise_problems(self) -> None:
        if self.problems:
            details = [{"field": p.field, "message": p.message} for p in self.problems]
            raise Invalid(self.problems[0].message, details=details)

    def raise_incomplete(self, *, ignore: frozenset[str] = frozenset()) -> None:
        self.raise_problems()
        missing = [m for m in self.missing if m not in ignore]
        if missing:
            details = [{"field": m, "message": "missing"} for m in missing]
            raise Invalid(f"the campaign is incomplete: {', '.join(missing)} missing", details=details)

    def missing_or_wrong(self) -> list[str]:
        """For a copy of a saved campaign: what needs attention, without refusing the copy."""
        return list(dict.fromkeys(self.missing + [p.field for p in self.problems]))


async def assess(
    session: AsyncSession, *, org_id: int, draft: Draft, campaign_id: int | None = None
) -> Assessment:
    """``campaign_id``: the saved campaign, whose own (and its tests') engagements do not exclude a contact."""
    result = Assessment()
    if not draft.name:
        result.missing.append("name")
    result.number = await _number(session, org_id=org_id, draft=draft, result=result)
    if not draft.has_audience:
        result.missing.append("audience")
    await _check_valued_tag_keys(session, org_id=org_id, draft=draft, result=result)
    result.template = await _template(session, org_id=org_id, draft=draft, result=result)
    if result.template is not None:
        _check_variables(result.template, draft, result)
    await _check_header(session, org_id=org_id, draft=draft, result=result)
    await _check_bot_flow(session, org_id=org_id, draft=draft, result=result)
    await _check_variants(session, org_id=org_id, draft=draft, result=result)
    await _check_eligible(session, org_id=org_id, draft=draft, result=result, campaign_id=campaign_id)
    return result


async def _check_variants(session: AsyncSession, *, org_id: int, draft: Draft, result: Assessment) -> None:
    """Each A/B variant is checked as the main template is: its template usable on the number, every
    placeholder bound, no binding the template lacks, its valued tag keys known. Fields are named
    ``variants.<index>.template`` / ``variants.<index>.variables.<n>``. A variant with neither a
    template nor bindings is the campaign's own message (``campaigns/experiment.py``)."""
    for index, variant in enumerate(draft.variants or []):
        own = variant.get("template_name") is not None
        sub = Draft(
            template_name=variant.get("template_name") if own else draft.template_name,
            template_language=variant.get("template_language") if own else draft.template_language,
            variables=dict(variant.get("variables") or ({} if own else draft.variables)),
            whatsapp_number_id=draft.whatsapp_number_id,
        )
        checked = Assessment(number=result.number)
        await _check_valued_tag_keys(session, org_id=org_id, draft=sub, result=checked)
        template = result.template if not own else None
        if own and result.number is not None:
            template = await _template(session, org_id=org_id, draft=sub, result=checked)
        if template is not None:
            _check_variables(template, sub, checked)
        prefix = f"variants.{index}."
        # The main template missing is already in ``missing``; a variant's own is named.
        result.missing.extend(prefix + m for m in checked.missing if own or m != "template")
        result.problems.extend(Problem(prefix + p.field, p.message) for p in checked.problems)


async def _check_eligible(
    session: AsyncSession, *, org_id: int, draft: Draft, result: Assessment, campaign_id: int | None
) -> None:
    """A given audience must reach someone who can be messaged now, or there is nobody to launch to."""
    if not draft.has_audience or any(p.field == "audience" for p in result.problems):
        return
    keys = [k for k in valued_tag_keys(draft.variables) if not valued_tag_key_problem(k)]
    where = await segments.segment_filter(session, org_id=org_id, audience=draft.audience, snapshot_of=draft.snapshot_of)
    if not await repository.has_eligible(session, audience_filter=where, campaign_id=campaign_id, valued_tag_keys=keys):
        result.missing.append(NO_ELIGIBLE)


async def _number(
    session: AsyncSession, *, org_id: int, draft: Draft, result: Assessment
) -> WhatsAppNumber | None:
    if draft.whatsapp_number_id is None:
        result.missing.append("whatsapp_number_id")
        return None
    number = await repository.get_number(session, org_id=org_id, number_id=draft.whatsapp_number_id)
    if number is None:
        result.problems.append(Problem("whatsapp_number_id", "no such WhatsApp number in this organization"))
    return number


async def _template(session: AsyncSession, *, org_id: int, draft: Draft, result: Assessment) -> Template | None:
    if not draft.template_name or not draft.template_language:
        result.missing.append("template")
        return None
    if result.number is None:
        # Templates live in a WABA; which one is known once the number is chosen.
        return None
    name, language, waba_id = draft.template_name, draft.template_language, result.number.waba_id
    template = await repository.get_template(
        session, org_id=org_id, waba_id=waba_id, name=name, language=language
    )
    label = f"template '{draft.template_name}' ({draft.template_language})"
    if template is None:
        if await repository.template_on_other_waba(
            session, org_id=org_id, waba_id=waba_id, name=name, language=language
        ):
            message = f"{label} belongs to another WhatsApp Business Account than the chosen number"
        else:
            message = f"{label} is not among the number's synced templates"
        result.problems.append(Problem("template", message))
        return None
    if not template.usable:
        result.problems.append(Problem("template", template.reason or f"{label} cannot be used"))
        return None
    return template


def _check_variables(template: Template, draft: Draft, result: Assessment) -> None:
    placeholders = [str(v) for v in template.variables or []]
    for name in sorted(placeholders, key=placeholder_order):
        if name not in draft.variables:
            result.missing.append(f"variables.{name}")
    for name in sorted(draft.variables, key=placeholder_order):
        if name not in placeholders:
            result.problems.append(
                Problem(f"variables.{name}", f"template '{template.name}' has no placeholder {{{{{name}}}}}")
            )


async def _check_valued_tag_keys(session: AsyncSession, *, org_id: int, draft: Draft, result: Assessment) -> None:
    """Every valued tag key the campaign names (a segment clause, a variable's source) follows the key
    rule of ``herald.contacts.rules`` (the key comes back in reports: "valued tag 'KEY' missing"), and
    some contact of the organization carries it: a typo would otherwise send to nobody."""
    named: list[tuple[str, str]] = [("audience", str(clause.get("key") or ""))
                                    for clause in (draft.audience or {}).get("valued_tags") or []]
    for name in sorted(draft.variables, key=placeholder_order):
        binding = draft.variables[name]
        if binding.get("source") == "valued_tag":
            named.append((f"variables.{name}", str(binding.get("key") or "")))
    checked: list[tuple[str, str]] = []
    for field_name, key in named:
        if problem := valued_tag_key_problem(key):
            result.problems.append(Problem(field_name, problem))
        else:
            checked.append((field_name, key))
    known = await repository.known_valued_tag_keys(session, org_id=org_id, keys=sorted({k for _, k in checked}))
    for field_name, key in checked:
        if key not in known:
            result.problems.append(Problem(field_name, unknown_valued_tag_key(key)))


async def unknown_valued_tag_keys(session: AsyncSession, *, org_id: int, audience: dict[str, Any] | None) -> list[str]:
    """The audience's valued tag keys (well formed) that no contact of the organization carries."""
    keys = [str(c.get("key") or "") for c in (audience or {}).get("valued_tags") or []]
    keys = [k for k in dict.fromkeys(keys) if not valued_tag_key_problem(k)]
    known = await repository.known_valued_tag_keys(session, org_id=org_id, keys=keys)
    return [k for k in keys if k not in known]


def unknown_valued_tag_key(key: str) -> str:
    return f"No contact has a valued tag “{key}”. Pick one of the existing keys."


async def _check_header(session: AsyncSession, *, org_id: int, draft: Draft, result: Assessment) -> None:
    header = result.template.header_format if result.template is not None else None
    if draft.header_media_id is None:
        if header in MEDIA_HEADERS:
            result.missing.append("header_media_id")
        return
    media = await repository.get_media(session, org_id=org_id, media_id=draft.header_media_id)
    if media is None:
        result.problems.append(Problem("header_media_id", "no such media in this organization"))
    elif result.number is not None and media.whatsapp_number_id != result.number.id:
        # Meta's media ids are per number: another number's upload cannot be sent from this one.
        result.problems.append(Problem("header_media_id", "the media was uploaded to another WhatsApp number"))
    elif header in ("IMAGE", "VIDEO") and not media.mime_type.startswith(header.lower() + "/"):
        result.problems.append(Problem("header_media_id", f"the template's header needs {header.lower()} media"))


async def _check_bot_flow(session: AsyncSession, *, org_id: int, draft: Draft, result: Assessment) -> None:
    if draft.bot_flow_id is None:
        result.missing.append("bot_flow_id")
    elif not await repository.bot_flow_exists(session, org_id=org_id, bot_flow_id=draft.bot_flow_id):
        result.problems.append(Problem("bot_flow_id", "no such bot flow in this organization"))


def placeholder_order(name: str) -> tuple[int, str]:
    """``2`` before ``10``; anything not positional (never usable) last."""
    return (int(name), "") if POSITIONAL.fullmatch(name) else (1 << 30, name)


def valued_tag_keys(variables: dict[str, dict[str, Any]]) -> list[str]:
    """Keys of the valued tags the bindings read, in placeholder order, each once."""
    keys = [variables[n].get("key") for n in sorted(variables, key=placeholder_order) if variables[n].get("source") == "valued_tag"]
    return list(dict.fromkeys(k for k in keys if k))
