"""Replies: the queries inbound messages and preferences need (applied by ``herald.webhooks.inbound`` and
``herald.webhooks.preferences``), forwarding to bot flows, funnel steps, bot answers."""
