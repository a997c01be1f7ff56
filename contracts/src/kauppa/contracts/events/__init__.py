"""The event catalogue. Importing this package registers every event type."""
