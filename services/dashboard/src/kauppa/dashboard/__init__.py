"""Kauppa ops dashboard."""
