"""Replies: inbound messages and preferences from webhooks, forwarding to bot flows, funnel steps, bot answers."""
