"""Kauppa handoff service."""
