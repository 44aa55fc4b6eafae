"""Keras training and int8 export for emostream's face autoencoder and expression head.

TensorFlow lives only in this package; ``stream/`` runs the exported ``.tflite`` files without it.
"""
