"""The few-row pattern products and the vector tanh of a TAP step, against numpy.

Both replace a numpy/BLAS call in the hot loop of kernels.tap; they must give
the same numbers (to rounding), the same bits whatever else is computed with
them, and keep NaN and infinities as numpy does (the iteration detects
divergence by them).
"""

from __future__ import annotations

import numpy as np
import pytest

from kernels import tap
from kernels._products import (
    FEW_ROWS,
    FLOAT32_BLOCK,
    blas_product,
    fields,
    int8_exact,
    overlaps,
    pattern_copies,
    runs_here,
)
from kernels._tanh import tanh_inplace

SHAPES = [(1, 37, 301), (2, 130, 500), (3, 5, 64), (7, 129, 203)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("k", "P", "N"), SHAPES)
def test_few_row_products_equal_the_matrix_products(k, P, N, dtype):
    rng = np.random.default_rng(P * N + k)
    xi = rng.choice([-1.0, 1.0], size=(P, N))
    m = rng.uniform(-1, 1, size=(k, N)).astype(dtype)
    g = rng.normal(size=(k, P)).astype(dtype)
    rows, columns = pattern_copies(xi, np.dtype(dtype))
    assert rows.dtype == np.int8 and columns.shape == (N, P)
    got_overlaps = np.empty((k, P), dtype=dtype)
    got_fields = np.empty((k, N), dtype=dtype)
    overlaps(m, columns, got_overlaps)
    fields(g, rows, got_fields)
    # exact reference: float64 sums of float64 products, scaled by the sum of |terms|
    eps = np.finfo(dtype).eps
    for got, coef, patterns in ((got_overlaps, m, xi.T), (got_fields, g, xi)):
        exact = coef.astype(np.float64) @ patterns
        bound = np.abs(coef.astype(np.float64)) @ np.abs(patterns)
        assert np.all(np.abs(got - exact) <= 2 * patterns.shape[0] * eps * bound)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_rows_bits_do_not_depend_on_the_rows_computed_with_it(dtype):
    rng = np.random.default_rng(3)
    P, N = 131, 257
    rows, columns = pattern_copies(rng.choice([-1.0, 1.0], size=(P, N)), np.dtype(dtype))
    m = rng.uniform(-1, 1, size=(5, N)).astype(dtype)
    together = np.empty((5, P), dtype=dtype)
    overlaps(m, columns, together)
    for k in range(5):
        alone = np.empty((1, P), dtype=dtype)
        overlaps(np.ascontiguousarray(m[k:k + 1]), columns, alone)
        assert np.array_equal(alone[0], together[k])


def test_real_valued_patterns_are_not_rounded_to_int8():
    xi = np.array([[0.5, -1.0, 2.0], [1.0, 1.0, -1.0]])
    rows, columns = pattern_copies(xi, np.dtype("float64"))
    assert rows.dtype == np.float64 and np.array_equal(rows, xi)
    out = np.empty((1, 3))
    fields(np.array([[1.0, 2.0]]), rows, out)
    assert np.allclose(out, [[2.5, 1.0, 0.0]])


def test_float32_sums_are_blocked_not_one_long_float32_sum():
    """Equal positive terms are the worst case of one float32 running sum: once the
    sum's ulp exceeds twice a term's last bit, every addition drops it, here 1.5e-4
    of the total over 20000 terms of 0.5 + 2^-13. A block of FLOAT32_BLOCK such terms
    is exact in float32, and the blocks are added in float64."""
    N, P = 20_000, 3
    rows, columns = pattern_copies(np.ones((P, N)), np.dtype("float32"))
    m = np.full((1, N), 0.5 + 2.0**-13, dtype=np.float32)
    got = np.empty((1, P), dtype=np.float32)
    overlaps(m, columns, got)
    exact = N * (0.5 + 2.0**-13)
    running = np.cumsum(m, dtype=np.float32)[-1]  # in order, as one long sum
    eps = np.finfo(np.float32).eps
    assert abs(running - exact) / exact > 10 * 2 * FLOAT32_BLOCK * eps
    assert np.max(np.abs(got - exact)) / exact < 2 * FLOAT32_BLOCK * eps
    assert np.all(got == np.float32(exact))  # exact in float64, rounded once


def _pm1() -> bool:
    """The patterns are ±1 (read as int8)."""
    return True


def _real() -> bool:
    """The patterns are real-valued."""
    return False


def test_blas_takes_many_rows_and_small_pattern_sets():
    f64, f32 = np.dtype("float64"), np.dtype("float32")
    assert not runs_here(FEW_ROWS, 100, 2000, f64, _pm1)
    assert runs_here(FEW_ROWS, 1600, 16_000, f64, _pm1)
    assert not runs_here(2 * FEW_ROWS, 10_000, 10_000, f64, _pm1)
    assert runs_here(FEW_ROWS - 1, 200, 2000, f64, _pm1)
    assert runs_here(2, 5, 2000, f64, _pm1) and not runs_here(1, 5, 2000, f64, _pm1)
    assert not runs_here(1, 200, 2000, f64, _pm1) and runs_here(1, 640, 8000, f64, _pm1)
    # float32: the same rule, but BLAS row by row wins at k = 2, 3 with few patterns
    assert runs_here(2, 200, 2000, f32, _pm1) and not runs_here(2, 100, 2000, f32, _pm1)
    assert not runs_here(1, 400, 4000, f32, _pm1) and runs_here(1, 1600, 16_000, f32, _pm1)
    assert runs_here(FEW_ROWS, 1600, 16_000, f32, _pm1)
    assert not runs_here(FEW_ROWS, 400, 4000, f32, _pm1)
    # real-valued patterns: float64 copies still pay, float32 ones do not
    assert runs_here(4, 200, 2000, f64, _real) and not runs_here(4, 200, 2000, f32, _real)


def test_the_pass_over_the_patterns_is_made_only_when_it_decides():
    """int8_exact is a pass over the patterns: not asked in float64, nor when the
    shapes already send the product to BLAS."""
    def never() -> bool:
        raise AssertionError("asked whether the patterns are int8")

    f64, f32 = np.dtype("float64"), np.dtype("float32")
    assert runs_here(4, 1600, 16_000, f64, never)
    assert not runs_here(2 * FEW_ROWS, 1600, 16_000, f32, never)
    assert not runs_here(2, 100, 2000, f32, never)


def test_int8_exact_tells_pm1_patterns_from_real_valued_ones():
    rng = np.random.default_rng(5)
    xi = rng.choice([-1.0, 0.0, 1.0], size=(70, 300))  # several of its check blocks
    assert int8_exact(xi) and int8_exact(xi.astype(np.float32)) and int8_exact(xi.T)
    for index in [(0, 0), (35, 150), (69, 299)]:  # first block, middle, last entry
        real = xi.copy()
        real[index] = 0.5
        assert not int8_exact(real)
    assert not int8_exact(np.full((2, 3), np.nan))
    rows, columns = pattern_copies(xi, np.dtype("float32"))
    assert rows.dtype == np.int8 and np.array_equal(columns, xi.T)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_blas_product_is_the_matrix_product_row_by_row_or_not(k):
    rng = np.random.default_rng(k)
    xi = rng.choice([-1.0, 1.0], size=(50, 301)).astype(np.float32)
    m = rng.uniform(-1, 1, size=(k, 301)).astype(np.float32)
    out = np.empty((k, 50), dtype=np.float32)
    blas_product(m, xi.T, out)
    exact = m.astype(np.float64) @ xi.T.astype(np.float64)
    assert np.max(np.abs(out - exact)) < 301 * np.finfo(np.float32).eps


def test_float32_retrieval_keeps_blas_accuracy():
    """A float32 solve's exit residual stays well inside its bound at N = 8000 (the
    in-order float32 sums of the few-row loops reached 0.9 of it)."""
    from kernels._checks import effective_tol
    from kernels.patterns import iid, point_rng
    from kernels.solution import RESIDUAL_FACTOR

    xi = iid(8000, 0.13, point_rng(1, 8000, 0.13, 0)).xi
    solution = tap.solve(xi, np.array([10.0]), dtype="float32")
    assert solution.status[0] == tap.CONVERGED
    assert solution.residual[0] < 0.5 * RESIDUAL_FACTOR * effective_tol(1e-8, "float32")


def test_tap_iterates_the_same_whichever_side_computes_the_products(monkeypatch):
    """A solve with every product in the few-row loops agrees with one all in BLAS."""
    rng = np.random.default_rng(7)
    xi = rng.choice([-1.0, 1.0], size=(150, 600))
    beta = 1.0 / np.array([0.2, 0.5, 0.9])
    here = tap.solve(xi, beta)
    monkeypatch.setattr(tap, "runs_here", lambda rows, patterns, sites, dtype, int8: False)
    blas = tap.solve(xi, beta)
    assert np.array_equal(here.status, blas.status)
    assert np.max(np.abs(here.m - blas.m)) < 1e-9


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1e-9, 1e-3, 0.3, 1.0, 4.0, 30.0])
def test_tanh_is_within_3_ulp_of_the_exact_value(scale, dtype):
    """Against numpy's float64 tanh (within an ulp of exact), in ulp of the dtype."""
    x = (np.random.default_rng(int(scale * 1e9) % 2**32).normal(size=200_000) * scale
         ).astype(dtype)
    got = x.copy()
    tanh_inplace(got)
    assert got.dtype == dtype
    expected = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(expected).astype(dtype)).astype(np.float64)
    assert np.max(np.abs(got - expected) / ulp) <= 3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_power_of_two_of_the_range_reduction_is_exact(dtype):
    """expm1(y) = 2^k expm1(r) + (2^k - 1) needs 2^k exactly for every k the
    reduction gives (0 ... 63 below the cap y = 44 in float64, 0 ... 29 below
    y = 20 in float32)."""
    from kernels._tanh import Y_CAP, Y_CAP_32, _power_of_two

    cap = Y_CAP if dtype == np.float64 else Y_CAP_32
    k_max = int(np.floor(cap / np.log(2.0) + 0.5))
    assert k_max == (63 if dtype == np.float64 else 29)
    for k in range(k_max + 1):
        power = _power_of_two(dtype(k), dtype(1.0))
        assert power == 2.0**k


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tanh_keeps_nan_and_saturates_infinities(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 25.0, -1e30, 1e-45], dtype=dtype)
    tanh_inplace(x)
    assert np.isnan(x[0])
    assert np.array_equal(x[1:7], [1.0, -1.0, 0.0, -0.0, 1.0, -1.0])
    assert np.signbit(x[4])
    assert x[7] == np.array(1e-45, dtype=dtype)  # tanh(x) = x for the tiniest x


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tanh_bits_do_not_depend_on_offset_or_shape(dtype):
    x = (np.random.default_rng(11).normal(size=1001) * 3).astype(dtype)
    reference = x.copy()
    tanh_inplace(reference)
    for offset in range(1, 8):
        buffer = np.zeros(offset + x.size, dtype=dtype)
        view = buffer[offset:]
        view[:] = x
        tanh_inplace(view)
        assert np.array_equal(view, reference)
    matrix = x[:1000].reshape(8, 125).copy()
    tanh_inplace(matrix)
    assert np.array_equal(matrix.reshape(-1), reference[:1000])
