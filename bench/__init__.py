"""Benchmarks and soak scripts; each prints its figures."""
