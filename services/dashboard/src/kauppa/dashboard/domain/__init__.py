"""Pure rules of the ops dashboard: periods, funnel, lead quality, latency, contacts,
service health. No I/O; ``now`` is always passed in."""
