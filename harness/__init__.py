"""Real processes for the tests and the benchmarks alike: not product code (nothing in the
product imports it). See `harness.processes`."""
