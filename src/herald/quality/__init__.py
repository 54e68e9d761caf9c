"""The quality circuit breaker's rules (docs/quality.md): arithmetic and words, read by the campaigns,
the engine, the webhooks and the stats alike, so it imports none of them."""
