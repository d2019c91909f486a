"""The two pattern products of a TAP step for a few rows, in Numba.

A TAP step multiplies the state by the patterns twice (:mod:`kernels.tap`):

    overlaps  M[k, mu] = sum_j m[k, j] xi[mu, j]      (k, P)
    fields    h[k, n]  = sum_mu g[k, mu] xi[mu, n]    (k, N)

For many rows k these are GEMMs and BLAS wins. For the few rows of a sweep's
long tail (the temperatures still iterating after the others have finished:
57 % of the point-iterations of bench/peers.py's large grid ran with k <= 7)
OpenBLAS 0.3.31 is slow: at k = 2 and 3 its small-k GEMM costs 2-2.5x per row
what k = 1 costs, and k = 1 streams the patterns (5 MB in float64 at N = 2000,
P = 320) from L3 every step. Here the patterns are read as int8 (exact for
±1 patterns: 8x less memory than float64, 4x less than float32) and each
converted pattern entry serves up to four rows, so a row costs 0.25-0.75x of
BLAS's at k = 2-7 and P >= 128 in float64, 0.34-0.93x in float32 (k = 1 gains
only once the patterns outgrow L3); :func:`runs_here` picks the faster side.
What stays in BLAS goes through :func:`blas_product`, which avoids its slow
k = 2 and 3 GEMMs.

Both products are axpy loops vectorised over the output index (n or mu), four
pattern rows per pass, with the sum over the inner index in ascending order:
no reassociation, so the bits do not depend on alignment or the vector path
taken (``kernels._reproducible``), and a row's bits do not depend on how many
rows are computed with it. In float32 the inner index runs in blocks of
``FLOAT32_BLOCK``: each block is summed in float32 (eight lanes per vector, twice
float64's), the blocks' sums in float64 (:func:`_combine_in_blocks`). One float32
sum over the whole index erred by about sqrt(N) eps, five times BLAS's blocked
sums at N = 8000; the blocks err about half as much as BLAS.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

__all__ = ["FEW_ROWS", "FLOAT32_BLOCK", "blas_product", "fields", "int8_exact", "overlaps",
           "pattern_copies", "runs_here"]

#: From this many rows on, both products run in BLAS (its GEMM kernels win).
FEW_ROWS = 8

#: Below FEW_ROWS, with at least this many patterns the int8 loops win at two
#: rows and more (they read 8x less memory than the float64 patterns).
MANY_PATTERNS = 128

#: Float64 patterns of at least this size no longer stay in the L3 cache (32 MiB
#: here) between steps, and BLAS streams them from memory. Then the loops also win
#: at one row (N = 8000, P = 640: 0.6-0.8x of BLAS's time; at N = 2000, P = 200
#: a step took 192 us here against 134 in BLAS) and up to 2 FEW_ROWS rows (0.7x
#: at 8 and 12 rows, N = 8000).
OUT_OF_CACHE_BYTES = 16 * 2**20

#: Row counts where OpenBLAS 0.3.31's float64 GEMM is slow whatever P: 1.3-2.6x
#: more time per row than here, at P = 41-320 (k = 2 costs more than two calls of
#: k = 1). In float32, with few patterns (P = 50-100), BLAS row by row wins.
SLOW_BLAS_ROWS = (2, 3)

#: Terms of the inner sum added in float32 before their sum joins the float64
#: total (float32 products only): a block errs by at most about 63 eps times the
#: sum of its terms' magnitudes. Relative error of the products measured at
#: N = 2000-16000: 1.4-2.1e-7, against BLAS's 2.6-5.9e-7.
FLOAT32_BLOCK = 64

#: Entries :func:`int8_exact` checks between two looks at its verdict: the loop
#: over a block vectorises, and real-valued patterns are told from the first block.
EXACT_CHECK_BLOCK = 4096

_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}


def runs_here(rows: int, patterns: int, sites: int, dtype: np.dtype,
              int8: Callable[[], bool]) -> bool:
    """Whether the products of ``rows`` rows with ``patterns`` x ``sites`` patterns in
    ``dtype`` run here (else BLAS, :func:`blas_product`). ``int8()`` says whether the
    patterns are read as int8 (:func:`int8_exact`, a pass over them); it is called
    only when the answer depends on it.

    Measured in float32 with one BLAS thread, as a sweep's worker runs them (loops'
    time over BLAS's, N = 500-16000): at k = 2-7 and P >= 200, 0.34-0.93x; at k = 1,
    0.83-1.7x while the patterns fit the cache and 0.56-0.96x once they do not; out
    of the cache at k = 8-15, 0.75-1.08x; with P = 50-100 at k = 1-7, 1.1-2.5x (one
    shape of 15 at 0.74x). float64 was measured likewise (the constants' comments).
    Real-valued patterns in float32 stay in BLAS: the loops over their float32
    copies took 0.6-1.9x BLAS's time (N = 1000-16000, k = 1-12).
    """
    float64 = np.dtype(dtype) == np.float64
    out_of_cache = patterns * sites * np.dtype(dtype).itemsize >= OUT_OF_CACHE_BYTES
    if rows == 1 or rows >= FEW_ROWS:
        shapes_pay = out_of_cache and rows < 2 * FEW_ROWS
    else:
        shapes_pay = patterns >= MANY_PATTERNS or (rows in SLOW_BLAS_ROWS and float64)
    return shapes_pay and (float64 or int8())


def blas_product(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out = a @ b in BLAS, one row at a time where its GEMM is slow (k in SLOW_BLAS_ROWS).

    The products :func:`runs_here` leaves to BLAS (float32, many rows, few
    patterns). At k = 2 and 3 one matrix-vector product per row costs 0.5-0.6x
    of the GEMM (float32, N = 2000-8000) with the same blocked sums.

    Parameters
    ----------
    a : ndarray of shape (k, J)
    b : ndarray of shape (J, W), any strides BLAS accepts (e.g. ``xi.T``)
    out : ndarray of shape (k, W)
    """
    if a.shape[0] in SLOW_BLAS_ROWS:
        for k in range(a.shape[0]):
            np.matmul(a[k], b, out=out[k])
    else:
        np.matmul(a, b, out=out)


def int8_exact(xi: np.ndarray) -> bool:
    """Whether every entry of ``xi`` is -1, 0 or 1, so that an int8 copy is exact.

    One pass without temporaries (6 ms at P = 1600, N = 16000 in float32, against
    32 ms for numpy's three comparisons), which stops at the first block holding
    another value.
    """
    return bool(_int8_exact(np.ascontiguousarray(xi).reshape(-1)))


@numba.njit(**_JIT)
def _int8_exact(flat):
    """:func:`int8_exact` of a 1-d array, block by block."""
    other = False
    for start in range(0, flat.size, EXACT_CHECK_BLOCK):
        for i in range(start, min(start + EXACT_CHECK_BLOCK, flat.size)):
            value = flat[i]
            other |= (value != 1) & (value != -1) & (value != 0)
        if other:
            return False
    return True


def pattern_copies(xi: np.ndarray, dtype: np.dtype, int8: bool | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The patterns as these kernels read them: (xi (P, N), xi.T (N, P)), C-contiguous.

    int8 when every entry is ±1 (or 0), else ``dtype`` (real-valued patterns
    of the correlated models). ``int8`` is :func:`int8_exact` of ``xi`` if the
    caller knows it, else it is computed here.
    """
    exact = int8_exact(xi) if int8 is None else int8
    rows = np.ascontiguousarray(xi, dtype=np.int8 if exact else dtype)
    return rows, np.ascontiguousarray(rows.T)


@numba.njit(**_JIT)
def _axpy4(out, a, b, c, d, x0, x1, x2, x3):
    """out += a x0 + b x1 + c x2 + d x3, added in that order; all 1-d of one length."""
    to = out.dtype.type
    for i in range(out.shape[0]):
        out[i] = out[i] + a * to(x0[i]) + b * to(x1[i]) + c * to(x2[i]) + d * to(x3[i])


@numba.njit(**_JIT)
def _axpy4_pair(out, other, coef, other_coef, x0, x1, x2, x3):
    """:func:`_axpy4` for two rows sharing the pattern rows; coef (4,) per row."""
    a, b, c, d = coef[0], coef[1], coef[2], coef[3]
    e, f, g, h = other_coef[0], other_coef[1], other_coef[2], other_coef[3]
    to = out.dtype.type
    for i in range(out.shape[0]):
        y0, y1, y2, y3 = to(x0[i]), to(x1[i]), to(x2[i]), to(x3[i])
        out[i] = out[i] + a * y0 + b * y1 + c * y2 + d * y3
        other[i] = other[i] + e * y0 + f * y1 + g * y2 + h * y3


@numba.njit(**_JIT)
def _axpy4_quad(o0, o1, o2, o3, c0, c1, c2, c3, x0, x1, x2, x3):
    """:func:`_axpy4` for four rows sharing the pattern rows; c0 ... c3 (4,) per row."""
    to = o0.dtype.type
    for i in range(o0.shape[0]):
        y0, y1, y2, y3 = to(x0[i]), to(x1[i]), to(x2[i]), to(x3[i])
        o0[i] = o0[i] + c0[0] * y0 + c0[1] * y1 + c0[2] * y2 + c0[3] * y3
        o1[i] = o1[i] + c1[0] * y0 + c1[1] * y1 + c1[2] * y2 + c1[3] * y3
        o2[i] = o2[i] + c2[0] * y0 + c2[1] * y1 + c2[2] * y2 + c2[3] * y3
        o3[i] = o3[i] + c3[0] * y0 + c3[1] * y1 + c3[2] * y2 + c3[3] * y3


@numba.njit(**_JIT)
def _combine(coef, rows, out):
    """out[k, :] = sum_j coef[k, j] rows[j, :], j ascending; coef (k, J), rows (J, W).

    Rows go four at a time, then two, then one: every row's sum has the same
    order (same bits) whichever group it falls in.
    """
    K, J = coef.shape
    out[:] = 0.0
    quads = K - K % 4
    pairs = K - K % 2
    for k in range(0, quads, 4):
        for j in range(0, J - 3, 4):
            _axpy4_quad(out[k], out[k + 1], out[k + 2], out[k + 3],
                        coef[k, j:j + 4], coef[k + 1, j:j + 4], coef[k + 2, j:j + 4],
                        coef[k + 3, j:j + 4], rows[j], rows[j + 1], rows[j + 2], rows[j + 3])
    for k in range(quads, pairs, 2):
        for j in range(0, J - 3, 4):
            _axpy4_pair(out[k], out[k + 1], coef[k, j:j + 4], coef[k + 1, j:j + 4],
                        rows[j], rows[j + 1], rows[j + 2], rows[j + 3])
    for k in range(pairs, K):
        for j in range(0, J - 3, 4):
            _axpy4(out[k], coef[k, j], coef[k, j + 1], coef[k, j + 2], coef[k, j + 3],
                   rows[j], rows[j + 1], rows[j + 2], rows[j + 3])
    for k in range(K):
        for j in range(J - J % 4, J):
            for i in range(out.shape[1]):
                out[k, i] = out[k, i] + coef[k, j] * out.dtype.type(rows[j, i])


@numba.njit(**_JIT)
def _combine_in_blocks(coef, rows, out):
    """:func:`_combine` for float32 ``out``: j in blocks of FLOAT32_BLOCK, each block's
    sum in float32, the blocks' sums added in float64 (module docstring)."""
    K, J = coef.shape
    total = np.zeros(out.shape, dtype=np.float64)
    for j0 in range(0, J, FLOAT32_BLOCK):
        j1 = min(j0 + FLOAT32_BLOCK, J)
        _combine(coef[:, j0:j1], rows[j0:j1], out)
        for k in range(K):
            for i in range(out.shape[1]):
                total[k, i] += out[k, i]
    for k in range(K):
        for i in range(out.shape[1]):
            out[k, i] = total[k, i]


def _combine_in(out: np.ndarray):
    """The loop for ``out``'s dtype: one float64 sum, or float32 blocks."""
    return _combine if out.dtype == np.float64 else _combine_in_blocks


def overlaps(m: np.ndarray, xi_t: np.ndarray, out: np.ndarray) -> None:
    """out[k, mu] = sum_j m[k, j] xi[mu, j] (unnormalised overlaps) in place.

    Parameters
    ----------
    m : ndarray of shape (k, N), float32 or float64, C-contiguous
    xi_t : ndarray of shape (N, P), int8 or m's dtype (:func:`pattern_copies`)
    out : ndarray of shape (k, P), m's dtype
    """
    _combine_in(out)(m, xi_t, out)


def fields(g: np.ndarray, xi: np.ndarray, out: np.ndarray) -> None:
    """out[k, n] = sum_mu g[k, mu] xi[mu, n] in place.

    Parameters
    ----------
    g : ndarray of shape (k, P), float32 or float64, C-contiguous
    xi : ndarray of shape (P, N), int8 or g's dtype (:func:`pattern_copies`)
    out : ndarray of shape (k, N), g's dtype
    """
    _combine_in(out)(g, xi, out)
