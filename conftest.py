"""Repository-wide pytest setup: real infrastructure fixtures from the service kit."""

pytest_plugins = ["kauppa.servicekit.testing.fixtures"]
