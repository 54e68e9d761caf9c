"""``herald demo``: Herald, the WhatsApp simulator and a demo bot on SQLite under ./var/demo, seeded."""

from herald.demo.organization import (
    DEMO_EMAIL,
    DEMO_ORG,
    DEMO_PASSWORD,
    demo_settings,
    prepare,
    reset,
    seed_organization,
)

__all__ = ["DEMO_EMAIL", "DEMO_ORG", "DEMO_PASSWORD", "demo_settings", "prepare", "reset", "seed_organization"]
