"""Frames → faces: MediaPipe detection, eye-level aligned crops and an IoU tracker."""
