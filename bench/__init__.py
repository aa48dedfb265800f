"""Benchmarks, a fault soak and their report: `python -m bench`, `python -m bench.soak`."""
