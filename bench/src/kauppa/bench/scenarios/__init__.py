"""One module per system measured by `make bench`, each with ``SCENARIOS`` (a list of
``kauppa.bench.harness.Scenario``); ``followup`` also has ``lateness_bench`` (timers)."""
