"""Importing this module registers every webhook event handler with the applier."""

from herald.replies import inbound, preferences  # noqa: F401
from herald.webhooks import statuses  # noqa: F401
