"""What a sender needs to know about a campaign and its number, re-read about once a second."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns.bindings import placeholder_order
from herald.campaigns.frequency_cap import FrequencyCap
from herald.campaigns.lifecycle import Status
from herald.campaigns.send_window import SendWindow
from herald.dispatch.pacer import Pacer, SlidingWindow
from herald.kit.crypto import SecretBox
from herald.models import Campaign, Media, Template, WhatsAppNumber
from herald.models.campaign import DEFAULT_MARKETING_RETRY_DAYS, DEFAULT_RATE_PER_SECOND
from herald.models.whatsapp_number import DEFAULT_THROUGHPUT_MPS
from herald.numbers.service import credentials_of
from herald.pricing.card import RateCard
from herald.pricing.forecast import DEFAULT_CATEGORY
from herald.quality.breaker import BreakerSettings
from herald.whatsapp import HeaderMedia, NumberCredentials

MEDIA_HEADERS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}


@dataclass(frozen=True)
class VariantRender:
    """What one A/B variant's messages are rendered with (``campaigns/experiment.py``)."""

    template_name: str
    language: str
    variables: dict[str, Any]
    positions: list[str]
    header: HeaderMedia | None


@dataclass
class CampaignContext:
    id: int
    org_id: int
    rate: float
    template_name: str
    language: str
    variables: dict[str, Any]
    header: HeaderMedia | None
    pacer: Pacer
    # The pace and its bucket on actual send times: a stalled event loop must not let the sends
    # whose slots went by leave together, above the bucket.
    window: SlidingWindow = field(default_factory=lambda: SlidingWindow(1))
    active: bool = True
    idle_until: float = 0.0
    # Claimed messages waiting for a sender, which have not reserved their slot in ``pacer`` yet.
    queued: int = 0
    positions: list[str] = field(default_factory=list)
    # How long 131049 is retried after a message's first try (``campaigns/marketing_retry.py``).
    marketing_retry_days: float = DEFAULT_MARKETING_RETRY_DAYS
    # The organization's frequency cap when it holds this campaign back; None: not capped.
    frequency_cap: FrequencyCap | None = None
    # The campaign's send window in each contact's local time; None: sent at any hour.
    send_window: SendWindow | None = None
    started_at: datetime | None = None
    # Pricing (herald.pricing): the organization's card and the template's category price each claimed
    # message; ``budget`` (None: none) is checked per claim against ``committed`` (the forecast cost of
    # what left, as recorded) plus ``in_flight`` (claimed, not recorded yet): ``dispatch/budget.py``.
    card: RateCard | None = None
    category: str = DEFAULT_CATEGORY
    budget: float | None = None
    committed: float = 0.0
    in_flight: float = 0.0
    # Set by the claim that paused it at its budget: claim no more (a resumed campaign gets a new context).
    budget_reached: bool = False
    # The quality circuit breaker's thresholds (``dispatch/breaker.py``), and whether a claim tripped it.
    breaker: BreakerSettings | None = None
    breaker_tripped: bool = False
    # The A/B variants by index (a message's ``variant``); empty without variants, the usual case,
    # which renders with the fields above and reads nothing more per batch.
    variants: list[VariantRender] = field(default_factory=list)

    @property
    def valued_tag_keys(self) -> set[str]:
        bindings = [*self.variables.values(), *(b for v in self.variants for b in v.variables.values())]
        return {b["key"] for b in bindings if b.get("source") == "valued_tag"}


def campaign_rate(campaign: Campaign) -> float:
    if campaign.rate_per_second:
        return float(campaign.rate_per_second)
    if campaign.rate_per_hour:
        return campaign.rate_per_hour / 3600.0
    return DEFAULT_RATE_PER_SECOND


def burst_for(rate: float) -> int:
    # A tenth of a second's worth: smooth enough for Meta's per-second window, cheap to schedule.
    return max(1, int(rate / 10))


def window_for(rate: float) -> float:
    """Most sends allowed in any one second: the pace and its bucket."""
    return rate + burst_for(rate)


async def load_number(session: AsyncSession, box: SecretBox, number_id: int) -> tuple[NumberCredentials, int] | None:
    number = await session.get(WhatsAppNumber, number_id)
    if number is None:
        return None
    return credentials_of(box, number), number.throughput_mps or DEFAULT_THROUGHPUT_MPS


async def active_campaigns(session: AsyncSession, number_id: int) -> list[tuple[Campaign, Template | None, Media | None]]:
    rows = await session.execute(
        select(Campaign, Template, Media)
        .join(WhatsAppNumber, WhatsAppNumber.id == Campaign.whatsapp_number_id)
        .outerjoin(
            Template,
            (Template.org_id == Campaign.org_id)
            & (Template.waba_id == WhatsAppNumber.waba_id)
            & (Template.name == Campaign.template_name)
            & (Template.language == Campaign.template_language),
        )
        .outerjoin(Media, Media.id == Campaign.header_media_id)
        .where(Campaign.whatsapp_number_id == number_id, Campaign.status == Status.active)
        .order_by(Campaign.id)
    )
    return [(c, t, m) for c, t, m in rows]


def header_for(template: Template | None, media: Media | None) -> HeaderMedia | None:
    if template is None or media is None:
        return None
    kind = MEDIA_HEADERS.get((template.header_format or "").upper())
    if kind is None:
        return None
    return HeaderMedia(kind=kind, media_id=media.media_id, filename=media.filename if kind == "document" else None)  # type: ignore[arg-type]


def positions_of(variables: dict[str, Any], template: Template | None) -> list[str]:
    names = list(template.variables) if template is not None and template.variables else list(variables)
    return sorted(names, key=placeholder_order)


async def variant_renders(
    session: AsyncSession, campaign: Campaign, template: Template | None, media: Media | None
) -> list[VariantRender]:
    """Each variant's template (its own, or the campaign's ``template``), bindings and header."""
    renders: list[VariantRender] = []
    for variant in campaign.variants or []:
        own = variant.get("template_name")
        name = own or campaign.template_name or ""
        language = variant.get("template_language") if own else campaign.template_language or ""
        used = template
        if own:
            used = (await session.execute(
                select(Template)
                .join(WhatsAppNumber, (WhatsAppNumber.waba_id == Template.waba_id) & (WhatsAppNumber.org_id == Template.org_id))
                .where(WhatsAppNumber.id == campaign.whatsapp_number_id, Template.name == name,
                       Template.language == language)
            )).scalar_one_or_none()
        # Neither template nor bindings: the campaign's own message.
        variables = dict(variant.get("variables") or ({} if own else campaign.variables or {}))
        renders.append(VariantRender(name, language or "", variables, positions_of(variables, used),
                                     header_for(used, media)))
    return renders
