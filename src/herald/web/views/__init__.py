"""Every page router, gathered for ``install_web``."""

from __future__ import annotations

from fastapi import APIRouter

from herald.web.views import (
    auth,
    campaigns,
    campaigns_live,
    contacts,
    events,
    followups,
    media,
    rate_card,
    replies,
    settings,
    setup,
    stats,
    variants,
    wizard,
    wizard_live,
)

router = APIRouter(include_in_schema=False)
for module in (auth, campaigns, campaigns_live, stats, followups, wizard, wizard_live, variants, media, contacts, replies,
               setup, settings, rate_card, events):
    router.include_router(module.router)
