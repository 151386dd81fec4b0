"""Admin of API keys (owned by the integrations API)."""
