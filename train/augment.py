"""On-the-fly augmentation of face batches: flip, shift, small rotation, zoom, brightness, contrast.

Applied to each training batch as it is made, so each epoch sees new variants; the autoencoder
reconstructs the augmented face itself, which teaches the decoder the same variety the runtime's
detector crops show. Keras' preprocessing layers and ``keras.ops`` only: the same code runs on
TensorFlow, JAX or PyTorch, on whatever device the backend uses.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import keras
import numpy as np
from keras import layers, ops

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


def augment_batch(augmenter: keras.Sequential, images: Any) -> Any:
    if not augmenter.layers:  # a config with every augmentation off; Keras cannot build it
        return images
    return ops.clip(augmenter(images, training=True), 0.0, 1.0)


def erase_batch(
    seed: keras.random.SeedGenerator, images: Any, probability: float, max_area: float
) -> Any:
    """Random erasing: a random rectangle of each face, with ``probability``, becomes noise.

    Hiding a cheek or an eye makes the classifier use every part of the face instead of the few
    pixels that happen to separate training faces; it narrows the gap between training and
    holdout accuracy. Rectangles cover 2 % to ``max_area`` of the face, aspect ratio 0.3 to 3.3.
    """
    n, height, width = (int(d) for d in ops.shape(images)[:3])

    def uniform(low: float = 0.0, high: float = 1.0) -> Any:
        return keras.random.uniform((n,), low, high, seed=seed)

    area = uniform(0.02, max_area) * height * width
    aspect = ops.exp(uniform(math.log(0.3), math.log(3.3)))
    h = ops.minimum(ops.sqrt(area * aspect), float(height))
    w = ops.minimum(ops.sqrt(area / aspect), float(width))
    top = uniform() * (height - h)
    left = uniform() * (width - w)
    rows = ops.arange(height, dtype="float32")[None, :, None]
    cols = ops.arange(width, dtype="float32")[None, None, :]
    inside = (
        (rows >= top[:, None, None])
        & (rows < (top + h)[:, None, None])
        & (cols >= left[:, None, None])
        & (cols < (left + w)[:, None, None])
        & (uniform() < probability)[:, None, None]
    )
    noise = keras.random.uniform(ops.shape(images), seed=seed, dtype="float32")
    return ops.where(inside[..., None], noise, images)


def degrade_batch(rng: np.random.Generator, faces: np.ndarray, cfg: AugmentConfig) -> np.ndarray:
    """What a camera does to a face that FER2013's web photos rarely show, per face at random:
    a gamma curve, a low resolution scaled back up, sensor noise, JPEG blocks.

    NumPy and OpenCV on float faces (N, H, W, 1) in [0, 1]; the classifier sees the result, the
    decoder still reconstructs the face before it, so the quality score keeps measuring plain
    faces. Each setting at 0 (the default) leaves the faces untouched.
    """
    out = faces.copy()
    n, height, width = faces.shape[:3]
    if cfg.gamma:
        gammas = np.exp(rng.uniform(-cfg.gamma, cfg.gamma, n)).astype(np.float32)
        out = np.power(np.clip(out, 0.0, 1.0), gammas[:, None, None, None])
    for i in np.flatnonzero(rng.random(n) < cfg.low_res):
        side = int(rng.integers(12, 33))
        small = cv2.resize(out[i, ..., 0], (side, side), interpolation=cv2.INTER_AREA)
        out[i, ..., 0] = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    if cfg.noise:
        sigma = rng.uniform(0.0, cfg.noise, n).astype(np.float32)[:, None, None, None]
        out = out + rng.standard_normal(out.shape, dtype=np.float32) * sigma
    out = np.clip(out, 0.0, 1.0)
    for i in np.flatnonzero(rng.random(n) < cfg.jpeg):
        quality = int(rng.integers(20, 71))
        pixels = (out[i, ..., 0] * 255.0 + 0.5).astype(np.uint8)
        _, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
        if decoded is not None:
            out[i, ..., 0] = decoded.astype(np.float32) / 255.0
    return out.astype(np.float32)
