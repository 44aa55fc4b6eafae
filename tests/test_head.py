"""The head's lookup tables give exactly what the float round trip they replace gives."""

from __future__ import annotations

import numpy as np
import pytest

from stream.codes.runner import TensorSpec
from stream.labels.head import requantizer

CODES = np.arange(-128, 128, dtype=np.int8)


def spec(scale: float, zero_point: int) -> TensorSpec:
    return TensorSpec((1, 128), np.dtype(np.int8), scale, zero_point)


@pytest.mark.parametrize(
    ("source", "target"),
    [(spec(0.0335, 9), spec(0.021, -4)), (spec(0.01, 0), spec(0.05, 100))],
)
def test_requantizing_by_table_matches_the_float_round_trip(source, target) -> None:
    moved = requantizer(source, target)(CODES.reshape(2, 128))
    assert moved.dtype == np.int8
    np.testing.assert_array_equal(moved.ravel(), target.quantize(source.dequantize(CODES)))


def test_scales_equal_to_float32_precision_pass_codes_through() -> None:
    # The shipped nano's encoder output and head input, as two exports wrote them.
    source, target = spec(0.033514250069856644, 9), spec(0.03351424261927605, 9)
    codes = CODES.reshape(2, 128)
    assert requantizer(source, target)(codes) is codes
