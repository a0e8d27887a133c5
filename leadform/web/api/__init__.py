"""The JSON API under /api/v1 (blueprint "api"): leads from landing pages, programs, docs."""
