"""Kauppa closing service."""
