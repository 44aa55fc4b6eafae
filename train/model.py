"""The convolutional autoencoder and the expression head, built from small named blocks.

The encoder maps a 48×48 grayscale face in [0, 1] to a code vector, with plain 3×3 convolutions
(``[model] block = "conv"``, the base member), depthwise-separable ones (``"separable"``, the
small members) or residual units (``"residual"``, the teacher); the decoder mirrors it back to
an image; the head maps a code to seven probabilities. Only ops the Edge TPU compiler maps (conv,
depthwise conv, pooling, dense, add, ReLU, transpose-conv, logistic, softmax; batch norm folds
into the convs) are used, so the int8 export compiles whole.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
from keras import layers

from train.config import ModelConfig
from train.labels import LABELS


@keras.saving.register_keras_serializable(package="emostream")
class BatchFlatten(layers.Layer):
    """Flatten with a ``-1`` batch dimension even when traced at a fixed batch size.

    Keras' ``Flatten`` bakes the traced batch size into the TFLite ``RESHAPE``, so a model exported
    with the static batch of 1 the Edge TPU needs could not be resized to batch a frame's faces.
    """

    def call(self, inputs):
        return keras.ops.reshape(inputs, (-1, math.prod(inputs.shape[1:])))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], math.prod(input_shape[1:]))


def conv_block(x: Any, filters: int, convs: int, name: str) -> Any:
    """``convs`` × (3×3 conv → batch norm → ReLU), then 2×2 max-pool."""
    for i in range(convs):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


def separable_block(x: Any, filters: int, convs: int, name: str) -> Any:
    """``convs`` × (3×3 depthwise → BN → ReLU → 1×1 conv → BN → ReLU), then 2×2 max-pool.

    MobileNet's factorisation: about 8–9× fewer multiply-accumulates than a 3×3 conv of the
    same width, with both convolutions ops the Edge TPU maps and batch norm folding into each.
    A one-channel input (the face itself) takes a plain 3×3 conv instead, since depthwise on one
    channel sees nothing across channels.
    """
    for i in range(convs):
        if x.shape[-1] == 1:
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        else:
            x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw{i}")(x)
            x = layers.BatchNormalization(name=f"{name}_dwbn{i}")(x)
            x = layers.ReLU(name=f"{name}_dwrelu{i}")(x)
            x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


def residual_block(x: Any, filters: int, convs: int, name: str) -> Any:
    """``convs`` residual units (3×3 conv → BN → ReLU → 3×3 conv → BN, plus the input, → ReLU),
    then 2×2 max-pool: a ResNet stage. The input joins through a 1×1 conv where the width changes.

    For the teacher only (``train/configs/ferplus-teacher.toml``, about ResNet-18's 11 M
    parameters): far past any edge budget, it exists to hand its probabilities to the members.
    """
    for i in range(convs):
        shortcut = x
        if x.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_proj{i}")(x)
            shortcut = layers.BatchNormalization(name=f"{name}_projbn{i}")(shortcut)
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}a")(x)
        y = layers.BatchNormalization(name=f"{name}_bn{i}a")(y)
        y = layers.ReLU(name=f"{name}_relu{i}a")(y)
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}b")(y)
        y = layers.BatchNormalization(name=f"{name}_bn{i}b")(y)
        x = layers.ReLU(name=f"{name}_relu{i}")(layers.Add(name=f"{name}_add{i}")([y, shortcut]))
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


BLOCK_BUILDERS = {"conv": conv_block, "separable": separable_block, "residual": residual_block}


def up_block(x: Any, filters: int, name: str) -> Any:
    """Stride-2 transpose conv → batch norm → ReLU: one decoder step back up in resolution."""
    x = layers.Conv2DTranspose(
        filters, 3, strides=2, padding="same", use_bias=False, name=f"{name}_deconv"
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_encoder(cfg: ModelConfig, size: int = 48) -> keras.Model:
    image = keras.Input((size, size, 1), name="face")
    x = image
    block = BLOCK_BUILDERS[cfg.block]
    for i, (filters, convs) in enumerate(zip(cfg.filters, cfg.convs_per_block, strict=True)):
        x = block(x, filters, convs, f"enc{i}")
    x = BatchFlatten(name="flatten")(x)
    x = layers.Dropout(cfg.encoder_dropout, name="enc_dropout")(x)
    x = layers.Dense(cfg.code_size, use_bias=False, name="code_dense")(x)
    code = layers.BatchNormalization(name="code")(x)
    return keras.Model(image, code, name="encoder")


def build_decoder(cfg: ModelConfig, size: int = 48) -> keras.Model:
    steps = len(cfg.decoder_filters)
    start = size // 2**steps
    if start * 2**steps != size:
        raise ValueError(f"image size {size} is not divisible by 2**{steps}")
    code = keras.Input((cfg.code_size,), name="code")
    x = layers.Dense(start * start * cfg.decoder_filters[0], name="dec_dense")(code)
    x = layers.ReLU(name="dec_relu")(x)
    x = layers.Reshape((start, start, cfg.decoder_filters[0]), name="dec_reshape")(x)
    for i, filters in enumerate(cfg.decoder_filters):
        x = up_block(x, filters, f"dec{i}")
    image = layers.Conv2D(
        1, 3, padding="same", activation="sigmoid", dtype="float32", name="reconstruction"
    )(x)
    return keras.Model(code, image, name="decoder")


def build_head(cfg: ModelConfig) -> keras.Model:
    code = keras.Input((cfg.code_size,), name="code")
    x = layers.ReLU(name="head_relu_in")(code)
    x = layers.Dropout(cfg.head_dropout, name="head_dropout0")(x)
    x = layers.Dense(cfg.head_units, activation="relu", name="head_dense")(x)
    x = layers.Dropout(cfg.head_dropout, name="head_dropout1")(x)
    probs = layers.Dense(len(LABELS), activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(code, probs, name="head")


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build and train layers under Keras' global dtype policy ``name``, restoring it after."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def load_float32(builder: Callable[[], keras.Model], trained_path: str | Path) -> keras.Model:
    """The trained weights in a model rebuilt with float32 compute and this code's layers.

    Training may run in mixed bfloat16 and with older layer code; export and evaluation must see
    the plain float32 model that the int8 converter quantizes.
    """
    with dtype_policy("float32"):
        model = builder()
    model.set_weights(keras.models.load_model(trained_path).get_weights())
    return model


def build_autoencoder(encoder: keras.Model, decoder: keras.Model) -> keras.Model:
    image = encoder.inputs[0]
    return keras.Model(image, decoder(encoder(image)), name="autoencoder")


def build_joint(encoder: keras.Model, head: keras.Model, decoder: keras.Model) -> keras.Model:
    """Encoder feeding both head and decoder: the fine-tuning model."""
    image = encoder.inputs[0]
    code = encoder(image)
    return keras.Model(image, {"probs": head(code), "reconstruction": decoder(code)}, name="joint")
