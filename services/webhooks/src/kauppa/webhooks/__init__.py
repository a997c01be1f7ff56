"""Kauppa webhooks service."""
