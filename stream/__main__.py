"""``python -m stream`` is the same as the ``emostream`` command."""

import sys

from stream.cli import main

sys.exit(main())
