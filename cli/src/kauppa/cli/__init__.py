"""The ``kauppa`` command."""
