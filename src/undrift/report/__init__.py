"""Renderings of stored results for people: terminal tables (Rich)."""
