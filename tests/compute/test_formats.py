"""Number formats: ranges derived from the bit layout agree with torch.finfo; storing a value rounds like torch."""

from __future__ import annotations

import math

import pytest

from core.compute.formats import FORMATS, bytes_per_param, store


@pytest.mark.parametrize("name", ["fp32", "fp16", "bf16", "fp8-e4m3"])
def test_float_ranges_from_the_bit_layout_equal_torch_finfo(name):
    import torch

    f = FORMATS[name]
    info = torch.finfo(getattr(torch, f.torch_dtype))
    assert (f.bits, f.max_value, f.min_normal, f.epsilon) == (info.bits, info.max, info.smallest_normal, info.eps)


def test_hand_computed_ranges():
    # fp16: bias 15, top usable exponent 30 - 15 = 15, mantissa all ones: (2 - 2^-10) x 2^15 = 65504
    assert FORMATS["fp16"].max_value == 65504
    # fp8-e4m3fn: bias 7, exponent 15 - 7 = 8 usable, top mantissa 110b = 0.75: 1.75 x 2^8 = 448
    assert FORMATS["fp8-e4m3"].max_value == 448
    # bf16 keeps fp32's 8 exponent bits: same smallest normal 2^-126, but epsilon 2^-7
    assert FORMATS["bf16"].min_normal == 2.0**-126 and FORMATS["bf16"].epsilon == 2.0**-7
    assert FORMATS["int8"].max_value == 127 and FORMATS["int4"].max_value == 7


def test_bytes_per_param():
    assert [bytes_per_param(p) for p in ("fp32", "fp16", "bf16", "int8", "int4")] == [4, 2, 2, 1, 0.5]


def test_floats_round_to_the_nearest_representable_value():
    assert store(0.1, "fp16").stored == 0.0999755859375  # 1638 / 2^14
    assert store(0.1, "bf16").stored == 0.10009765625  # 1.6015625 x 2^-4
    # fp8-e4m3: 0.1 = 1.6 x 2^-4, three mantissa bits: 1.625 is nearest, 1.625 / 16 = 0.1015625
    fp8 = store(0.1, "fp8-e4m3")
    assert fp8.stored == 0.1015625 and math.isclose(fp8.rel_error, 0.0015625 / 0.1)
    assert store(1 / 3, "fp32").rel_error < FORMATS["fp32"].epsilon


def test_integers_use_symmetric_absmax_quantisation():
    # int8, absmax 1: scale 1/127; 0.5 x 127 = 63.5 rounds half to even: 64; 64 / 127
    q = store(0.5, "int8")
    assert (q.level, q.stored, q.scale) == (64, 64 / 127, 1 / 127)
    # int4, absmax 2: scale 2/7; 0.3 / (2/7) = 1.05 -> 1; stored 2/7
    q = store(0.3, "int4", absmax=2.0)
    assert q.level == 1 and math.isclose(q.stored, 2 / 7) and math.isclose(q.abs_error, 0.3 - 2 / 7)
    assert store(0.0, "int8").rel_error == 0.0


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_values_are_refused(value):
    with pytest.raises(ValueError, match="finite"):
        store(value, "fp16")


def test_overflow_and_clipping_are_refused():
    with pytest.raises(ValueError, match="overflows fp16.*65504"):
        store(1e5, "fp16")
    # fp8-e4m3: the step at 448 is 2^8 x 2^-3 = 32, so up to 448 + 16 rounds down to 448, beyond overflows
    assert store(460.0, "fp8-e4m3").stored == 448
    with pytest.raises(ValueError, match="overflows fp8-e4m3"):
        store(464.0, "fp8-e4m3")
    assert store(65519.0, "fp16").stored == 65504  # 65504 + 16 would round to inf
    with pytest.raises(ValueError, match=r"outside \[-absmax, absmax\]"):
        store(1.5, "int8")
    with pytest.raises(ValueError, match="absmax must be positive"):
        store(0.1, "int8", absmax=0)
    with pytest.raises(ValueError, match="absmax must be a finite"):
        store(0.1, "int4", absmax=float("nan"))


def test_unknown_format_is_named():
    with pytest.raises(ValueError, match="Unknown number format 'fp64'"):
        store(1.0, "fp64")
    with pytest.raises(ValueError, match="Unknown number format 'int2'"):
        bytes_per_param("int2")
