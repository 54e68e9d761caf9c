"""What a sender needs to know about a campaign and its number, re-read about once a second."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns.bindings import placeholder_order
from herald.campaigns.frequency_cap import FrequencyCap
from herald.campaigns.send_window import SendWindow
from herald.dispatch.marketing_messages import MarketingMessages
from herald.dispatch.pacer import Pacer, SlidingWindow
from herald.models import Campaign, Media, Template, WhatsAppNumber
from herald.models.campaign import DEFAULT_MARKETING_RETRY_DAYS, DEFAULT_RATE_PER_SECOND
from herald.numbers.messaging_limit import Portfolio
from herald.pricing.card import RateCard
from herald.pricing.forecast import DEFAULT_CATEGORY
from herald.quality.breaker import BreakerSettings
from herald.whatsapp import HeaderMedia

MEDIA_HEADERS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}


@dataclass(frozen=True)
class VariantRender:
    """What one A/B variant's messages are rendered with (``campaigns/experiment.py``)."""

    template_name: str
    language: str
    variables: dict[str, Any]
    positions: list[str]
    header: HeaderMedia | None
    # Through Meta's Marketing Messages API (its template is MARKETING and the number uses it).
    marketing_messages: bool = False


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
    # Its last claim found nothing due: the next one is tried only once a read finds something
    # (``batch.anything_due``). A campaign that has sent everything stays active for its replies and
    # retries; with a claim's transaction a second for each, a hundred such campaigns took the SQLite
    # write lock a hundred times a second.
    drained: bool = False
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
    # Its number's portfolio and messaging limit (``dispatch/messaging_limit.py``); None: unknown number.
    portfolio: Portfolio | None = None
    # The quality circuit breaker's thresholds (``dispatch/breaker.py``), and whether a claim tripped it.
    breaker: BreakerSettings | None = None
    breaker_tripped: bool = False
    # The A/B variants by index (a message's ``variant``); empty without variants, the usual case,
    # which renders with the fields above and reads nothing more per batch.
    variants: list[VariantRender] = field(default_factory=list)
    # The number's Marketing Messages API settings (None: it does not use it), and whether this campaign's
    # template goes through it (a MARKETING template); variants decide for theirs. ``dispatch/marketing_messages.py``.
    number_marketing: MarketingMessages | None = None
    marketing_messages: bool = False

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
    session: AsyncSession, campaign: Campaign, template: Template | None, media: Media | None,
    marketing: MarketingMessages | None = None,
) -> list[VariantRender]:
    """Each variant's template (its own, or the campaign's ``template``), bindings, header, and whether it
    goes through the number's Marketing Messages API (``marketing``: the number's, None when it does not)."""
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
        through_mm = marketing is not None and marketing.takes(used.category if used is not None else None)
        renders.append(VariantRender(name, language or "", variables, positions_of(variables, used),
                                     header_for(used, media), through_mm))
    return renders
