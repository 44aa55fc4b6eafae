"""The compute type a training run uses; ``precision = "auto"`` times both on this machine.

Mixed bfloat16 is not faster everywhere. On the 2-core machine that trained the shipped model
it made fine-tuning about 25 % faster; on 2 cores with AVX-512 BF16 but no AMX it made it 1.6×
slower (200 s per epoch against 120–128 s in float32). Feature flags do not tell these apart
reliably (which kernels TensorFlow picks varies by build and CPU), so ``auto`` times a few real
fine-tuning steps of the configured model in each type and keeps bfloat16 only when it is clearly
faster.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable

import keras
import numpy as np

from train.config import TrainConfig
from train.labels import LABELS
from train.model import build_decoder, build_encoder, build_head, build_joint, dtype_policy

log = logging.getLogger(__name__)

BF16_MUST_TAKE = 0.9
"""bfloat16 is chosen only below this share of float32's step time: a near tie keeps float32,
so the same machine keeps making the same choice."""


def step_seconds(cfg: TrainConfig, precision: str, steps: int = 3) -> float:
    """Median seconds of one fine-tuning step of ``cfg``'s joint model in ``precision``.

    Random faces at the fine-tuning batch size; the first step (tracing) is not counted.
    """
    size, batch = cfg.data.image_size, cfg.finetune.batch_size
    rng = np.random.default_rng(0)
    faces = rng.random((batch, size, size, 1), dtype=np.float32)
    targets = {
        "probs": np.eye(len(LABELS), dtype=np.float32)[rng.integers(0, len(LABELS), batch)],
        "reconstruction": faces,
    }
    with dtype_policy(precision):
        joint = build_joint(
            build_encoder(cfg.model, size), build_head(cfg.model), build_decoder(cfg.model, size)
        )
        joint.compile(
            optimizer=keras.optimizers.AdamW(1e-4),
            loss={"probs": "categorical_crossentropy", "reconstruction": "mse"},
        )
        joint.train_on_batch(faces, targets)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            joint.train_on_batch(faces, targets)
            times.append(time.perf_counter() - start)
    keras.backend.clear_session()
    return statistics.median(times)


def resolve_precision(precision: str, timer: Callable[[str], float]) -> str:
    """``precision`` itself, or for ``auto`` the type ``timer`` (seconds per step) finds faster."""
    if precision != "auto":
        return precision
    float32, bfloat16 = timer("float32"), timer("mixed_bfloat16")
    chosen = "mixed_bfloat16" if bfloat16 < BF16_MUST_TAKE * float32 else "float32"
    log.info(
        "precision auto: %.0f ms per step in float32, %.0f ms in mixed_bfloat16; using %s",
        float32 * 1000,
        bfloat16 * 1000,
        chosen,
    )
    return chosen
