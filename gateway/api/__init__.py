"""The public REST API under /api/v1 (JSON, bearer tokens, never cookies)."""
