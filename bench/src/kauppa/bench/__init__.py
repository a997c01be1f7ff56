"""`make bench`: the benchmark harness (``harness``), one scenario module per service
(``scenarios``) and the runner (``run``, ``python -m kauppa.bench``). A dev-only package:
no service depends on it and no image installs it."""
