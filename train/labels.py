"""The seven FER2013 expressions in the order of the original CSV's ``emotion`` column.

The same order is the order of the head's output and of ``labels`` in ``models/manifest.json``.
"""

LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
LABEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(LABELS)}
