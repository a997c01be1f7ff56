"""Kauppa shared service kit."""
