"""Throughput benchmark: the write side, replay and its bounds, and a Faust floor, in one run.

Run ``python -m bench --help``. Figures and what limits them are in ``BENCHMARKS.md``.
"""
