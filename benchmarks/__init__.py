"""Benchmarks of cedula-verify: `python -m benchmarks [NAME ...] [--quick]` (or `make bench`).

Every benchmark starts the real processes it measures (Celery workers, a Django-Q2 cluster,
gunicorn, locust, the census simulator, Chromium), prints a Markdown table and writes JSON to
benchmarks/results/. The names and what each measures are in benchmarks/registry.py. Nothing
here is a fixture of the test suite: the numbers are measured on the machine it runs on.
"""
