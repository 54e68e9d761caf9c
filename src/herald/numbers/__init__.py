"""WhatsApp Cloud numbers: credentials (encrypted at rest), number info, and the shared Cloud API client."""
