"""The handoff's business rules (D1-D4): plain Python, no I/O; time is passed in."""
