"""The self-check: the readiness report before a district's first sync (not built yet)."""
