"""Kauppa followup service."""
