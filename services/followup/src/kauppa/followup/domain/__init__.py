"""Pure follow-up rules (D13-D18): no I/O, no clock; ``now`` is always a parameter."""
