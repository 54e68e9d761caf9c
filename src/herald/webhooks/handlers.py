"""Importing this module registers every webhook event handler with the applier."""

from herald.webhooks import statuses  # noqa: F401
