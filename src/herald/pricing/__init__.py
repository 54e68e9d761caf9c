"""What a campaign costs: Meta's per-message rate card, the recipient's market, the forecast, the actual cost."""
