"""Every page router, gathered for ``install_web``."""

from __future__ import annotations

from fastapi import APIRouter

from herald.web.views import (
    auth,
    campaigns,
    campaigns_live,
    contacts,
    events,
    media,
    replies,
    settings,
    setup,
    stats,
    wizard,
    wizard_live,
)

router = APIRouter(include_in_schema=False)
for module in (auth, campaigns, campaigns_live, stats, wizard, wizard_live, media, contacts, replies, setup, settings,
               events):
    router.include_router(module.router)
