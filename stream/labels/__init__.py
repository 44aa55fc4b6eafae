"""Codes → labels: the expression head, the reconstruction quality score and per-track smoothing."""
