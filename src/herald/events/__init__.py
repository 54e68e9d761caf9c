"""Events out: an organization's endpoints, the outbox its events wait in, and their delivery."""
