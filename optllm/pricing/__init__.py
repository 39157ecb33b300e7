"""Prices: per-call costs from token counts and published per-token prices."""
