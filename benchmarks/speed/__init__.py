"""How fast: frames per second and per-stage latency of the pipeline, the encoder per delegate,
offline analysis, and a soak run, each beside the fer package where it has the same job."""
