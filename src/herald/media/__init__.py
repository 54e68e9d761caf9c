"""Header media: checked against WhatsApp's limits, uploaded to a number, re-uploaded when its id expires."""
