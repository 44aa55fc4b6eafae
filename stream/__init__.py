"""emostream runtime: video source → faces → int8 codes → expression labels → ZeroMQ.

This package never imports TensorFlow: it runs the exported ``.tflite`` models with LiteRT.
"""

__version__ = "0.1.0"
