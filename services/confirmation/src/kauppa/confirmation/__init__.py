"""Kauppa confirmation service."""
