"""Bot flows: the signed HTTPS endpoints that receive campaign replies."""
