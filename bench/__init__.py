"""Benchmarks: each prints a table against raw baselines measured in the same run."""
