"""Herald: WhatsApp campaigns with an exact record of every message."""
__version__ = "0.1.0"
