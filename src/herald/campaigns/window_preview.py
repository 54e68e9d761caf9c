"""A campaign's audience preview against its send window: how many eligible contacts are outside their
window now, in which zones, and how many have a ``timezone`` tag that is not a zone.

Contacts are grouped in SQL by their ``timezone`` tag and their phone's prefix (the part the timezone
data is keyed on, ``contacts/local_zone.py``), so a million contacts cost a few thousand zone
lookups, and each zone's window is computed once.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import repository
from herald.campaigns.schemas import SendWindowPreview, ZoneCount
from herald.campaigns.send_window import SendWindow
from herald.contacts.local_zone import PREFIX_CHARS, TIMEZONE_TAG, zone_info, zone_of

TOP_ZONES = 5


async def eligible_zones(
    session: AsyncSession, *, audience_filter: ColumnElement[bool], campaign_id: int | None,
    valued_tag_keys: list[str], over_cap: ColumnElement[bool] | None,
) -> tuple[Counter[str], int]:
    """Eligible contacts per zone, and how many of them have a ``timezone`` tag that is not a zone."""
    groups = await repository.eligible_zone_groups(
        session, audience_filter=audience_filter, campaign_id=campaign_id, valued_tag_keys=valued_tag_keys,
        over_cap=over_cap, tag_key=TIMEZONE_TAG, prefix_chars=PREFIX_CHARS,
    )
    zones: Counter[str] = Counter()
    bad_tags = 0
    for tag, phone, count in groups:
        zone, bad = zone_of(tag, phone)
        zones[zone] += count
        bad_tags += count if bad else 0
    return zones, bad_tags


def window_preview(window: SendWindow, zones: Counter[str], bad_tags: int, now: datetime) -> SendWindowPreview:
    openings = {zone: window.opening(zone_info(zone), now) for zone in zones}
    outside = [zone for zone, opens in openings.items() if opens is not None]
    top = [
        ZoneCount(zone=zone, contacts=count, open_now=openings[zone] is None, opens_at=openings[zone])
        for zone, count in sorted(zones.items(), key=lambda item: (-item[1], item[0]))[:TOP_ZONES]
    ]
    times = [opens for opens in openings.values() if opens is not None]
    return SendWindowPreview(
        outside_now=sum(zones[zone] for zone in outside), next_opening=min(times) if times else None,
        invalid_timezone_tags=bad_tags, zones=top,
    )
