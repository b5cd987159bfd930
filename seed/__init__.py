"""Deterministic generator for the inventory source database (the seed contract)."""
