"""Repository-wide pytest setup: real infrastructure fixtures from the service kit."""

pytest_plugins = ["kauppa.devkit.testing.fixtures"]
