"""Benchmarks of emostream: speed, accuracy and deployment figures for ``benchmarks/RESULTS.md``.

One folder per question: ``speed/`` (how fast, beside the fer package), ``accuracy/`` (how right,
and at what cost in multiply-accumulates), ``deployment/`` (install, a site, the store, MQTT,
training cost), ``peers/`` (workers that time each tool in a process of its own) and ``common/``
(the helpers they share). ``python -m benchmarks`` lists them all and what each writes;
``python -m benchmarks.run`` runs the Markdown ones together.
"""
