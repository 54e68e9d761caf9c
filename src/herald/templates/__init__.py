"""Message templates synced from a number's WhatsApp Business Account, and whether Herald can send them."""
