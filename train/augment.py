"""On-the-fly augmentation of face batches: flip, shift, small rotation, zoom, brightness, contrast.

Run inside ``tf.data`` so each epoch sees new variants; the autoencoder reconstructs the augmented
face itself, which teaches the decoder the same variety the runtime's detector crops show.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from train.config import AugmentConfig


def build_augmenter(cfg: AugmentConfig, seed: int) -> keras.Sequential:
    steps: list[layers.Layer] = []
    if cfg.flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed))
    if cfg.shift:
        steps.append(layers.RandomTranslation(cfg.shift, cfg.shift, "nearest", seed=seed + 1))
    if cfg.rotation_deg:
        steps.append(layers.RandomRotation(cfg.rotation_deg / 360.0, "nearest", seed=seed + 2))
    if cfg.zoom:
        steps.append(layers.RandomZoom(cfg.zoom, cfg.zoom, "nearest", seed=seed + 3))
    if cfg.brightness:
        steps.append(layers.RandomBrightness(cfg.brightness, value_range=(0, 1), seed=seed + 4))
    if cfg.contrast:
        steps.append(layers.RandomContrast(cfg.contrast, seed=seed + 5))
    return keras.Sequential(steps, name="augment")


def augment_batch(augmenter: keras.Sequential, images: tf.Tensor) -> tf.Tensor:
    return tf.clip_by_value(augmenter(images, training=True), 0.0, 1.0)
