"""Benchmarks (dev-only): the write side, replay and its bounds, and a Faust floor in one
run (``python -m bench``); DOM (``bench.dom``), journeys (``bench.journeys``) and what-if
(``bench.what_if``) on their own. Figures and what limits them are in ``BENCHMARKS.md``.
"""
