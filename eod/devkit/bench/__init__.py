"""Benchmarks that print their figures (never timed tests)."""
