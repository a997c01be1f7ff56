"""Pure rules of the written order confirmation (D11, D12): no I/O, ``now`` passed in."""
