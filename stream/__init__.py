"""emostream runtime: video source → faces → int8 codes → expression labels → ZeroMQ.

This package never imports TensorFlow: it runs the exported ``.tflite`` models with LiteRT.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["Analyzer", "FaceResult", "FrameResult"]


def __getattr__(name: str) -> Any:
    """``from stream import Analyzer``, loading the models' libraries only when asked for."""
    if name in __all__:
        from stream import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'stream' has no attribute {name!r}")
