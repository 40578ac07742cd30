"""Benchmarks: they print figures and never assert on time. See bench/README.md."""
