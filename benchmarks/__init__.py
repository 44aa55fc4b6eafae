"""Benchmarks of emostream: speed, memory and accuracy figures for ``benchmarks/RESULTS.md``.

Throughput and per-stage latency, the ``fer`` package side by side, accuracy through the detection
path, and encoder latency per delegate. Run them all with ``python -m benchmarks.run``.
"""
