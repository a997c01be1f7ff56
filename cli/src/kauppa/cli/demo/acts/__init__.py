"""One module per act of the demo, each a function of the run (``Demo``)."""
