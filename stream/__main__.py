"""``python -m stream`` is the same as the ``emostream`` command."""

from stream.cli import entry

entry()
