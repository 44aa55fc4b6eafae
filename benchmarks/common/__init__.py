"""Helpers every benchmark shares: the run context, report tables, timing statistics, synthetic
clips and a loopback ZeroMQ bus."""
