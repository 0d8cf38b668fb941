"""Benchmarks of the processor: ``python -m bench`` (see BENCHMARKS.md)."""
