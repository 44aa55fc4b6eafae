"""Faces → codes: running the int8 TFLite models (delegates, batching) and the encoder."""
