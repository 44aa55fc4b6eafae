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
    if not augmenter.layers:  # a config with every augmentation off; Keras cannot build it
        return images
    return tf.clip_by_value(augmenter(images, training=True), 0.0, 1.0)


def erase_batch(
    generator: tf.random.Generator, images: tf.Tensor, probability: float, max_area: float
) -> tf.Tensor:
    """Random erasing: a random rectangle of each face, with ``probability``, becomes noise.

    Hiding a cheek or an eye makes the classifier use every part of the face instead of the few
    pixels that happen to separate training faces; it narrows the gap between training and
    holdout accuracy. Rectangles cover 2 % to ``max_area`` of the face, aspect ratio 0.3 to 3.3.
    """
    n = tf.shape(images)[0]
    height, width = tf.unstack(tf.cast(tf.shape(images)[1:3], tf.float32))
    area = generator.uniform([n], 0.02, max_area) * height * width
    aspect = tf.exp(generator.uniform([n], tf.math.log(0.3), tf.math.log(3.3)))
    h = tf.minimum(tf.sqrt(area * aspect), height)
    w = tf.minimum(tf.sqrt(area / aspect), width)
    top = generator.uniform([n]) * (height - h)
    left = generator.uniform([n]) * (width - w)
    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    inside = (
        (rows >= top[:, None, None])
        & (rows < (top + h)[:, None, None])
        & (cols >= left[:, None, None])
        & (cols < (left + w)[:, None, None])
        & (generator.uniform([n]) < probability)[:, None, None]
    )
    noise = generator.uniform(tf.shape(images), dtype=images.dtype)
    return tf.where(inside[..., None], noise, images)
