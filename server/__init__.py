"""The Flask service (gateway, API, clerk UI, OpenRosa) and the domain rules (validation, tiers)."""
