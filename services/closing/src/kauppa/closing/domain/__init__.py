"""The closing service's rules (D5-D10): plain Python, no I/O, ``now`` passed in."""
