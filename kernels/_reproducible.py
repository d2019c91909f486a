"""Bit-reproducible kernels: identical inputs give identical bits, whatever the
arrays' memory layout, the thread count or the process.

Three things broke that, each measured on this project's machines:

- **Reassociated reductions in Numba.** With ``fastmath={"reassoc"}`` LLVM turns a
  running sum into a vector loop with VF x UF partial sums, guarded by a runtime
  check: if an array the loop writes starts less than VF x UF elements after one it
  reads (``vector.memcheck``, 256 bytes with AVX-512, 64 with AVX2), it runs the
  scalar loop instead, which sums in another order. Whether the check passes
  depends on where the allocator put the work arrays (small arrays sit side by
  side), so two identical calls of relaxed BP at N = 16 differed by one ulp. The
  kernels are therefore compiled without ``reassoc`` (strict IEEE order, which LLVM
  never changes; FMA contraction is kept and rounds alike on both paths), and
  their sums are written with LANES explicit partial sums (:func:`lane_sum`,
  :func:`lane_log_product`), whose order is the same whichever code path runs,
  and on every CPU. One exception, for speed: the relaxed sweep's rows of at least
  ``kernels.bp.VECTOR_SUM_MIN_N`` sites keep reassociated sums in their loop
  (scalar lane sums cost 18 % of a sweep), since the scalar path cannot be taken
  there: distinct rows that long never lie within VF x UF entries of each other.
  Their order depends on N and the CPU's vector width only (as numpy's SIMD tanh
  and OpenBLAS's kernels do).
- **BLAS thread count.** OpenBLAS 0.3.31 gives different bits for the same GEMM
  with one or two threads (``xi @ m`` at P = 50, N = 1000, K = 16, float64; at
  N = 2000 from K = 2 on), since the partition changes the blocking. Every public
  solver runs its products with one BLAS thread (:func:`reproducible`), which is
  also how the sweep runs them (one worker per core).
- **Input layout.** A Fortran-ordered or strided input makes numpy call BLAS with
  other transpose flags and kernels; an input at another offset may take another
  path in a BLAS kernel. :func:`reproducible` hands the solver owned, C-contiguous
  copies aligned to ALIGNMENT bytes (a copy costs about one pass over the
  patterns, far below one iteration's two products).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from typing import TypeVar

import numba
import numpy as np

__all__ = ["ALIGNMENT", "LANES", "aligned_copy", "lane_log_product", "lane_sum", "reproducible"]

#: Byte alignment of the solvers' input copies: a cache line, and the widest
#: vector register of x86 (AVX-512).
ALIGNMENT = 64

#: Partial sums of the fixed-order reductions: one AVX-512 register of float64
#: (two AVX2 registers), enough independent chains to hide the add latency.
LANES = 8

#: Entries per lane multiplied before one log is taken in :func:`lane_log_product`;
#: the caller bounds the factors so that no product of this many can overflow.
LOG_PRODUCT_BLOCK = 64

_Solver = TypeVar("_Solver", bound=Callable)


def aligned_copy(a: np.ndarray, dtype: np.dtype | str | None = None) -> np.ndarray:
    """Owned, C-contiguous copy of ``a`` whose data starts on an ALIGNMENT boundary.

    Parameters
    ----------
    a : array_like
        Any shape, order or offset.
    dtype : dtype or None, default=None
        Of the copy; None keeps ``a``'s.

    Returns
    -------
    ndarray
        Same shape and values, a fresh buffer (writable, owned by the copy).
    """
    a = np.asarray(a)
    dtype = a.dtype if dtype is None else np.dtype(dtype)
    nbytes = a.size * dtype.itemsize
    buffer = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    out = buffer[start : start + nbytes].view(dtype).reshape(a.shape)
    out[...] = a
    return out


def _owned(value):
    """Numeric and boolean arrays as :func:`aligned_copy` (also inside lists and
    tuples, e.g. mixing matrices), anything else as is."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return aligned_copy(value)
    if isinstance(value, list | tuple):
        return type(value)(_owned(item) for item in value)
    return value


class _OneBlasThread:
    """Process-wide context: BLAS runs one thread while any solver is inside it.

    Counted, so that solvers running in several Python threads at once (a
    threads-only Dask worker) keep one BLAS thread until the last one leaves.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._limiter = None
        self._controller = None

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                if self._controller is None:
                    from threadpoolctl import ThreadpoolController

                    self._controller = ThreadpoolController()
                self._limiter = self._controller.limit(limits=1, user_api="blas")
            self._depth += 1

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._limiter.restore_original_limits()
                self._limiter = None


_ONE_BLAS_THREAD = _OneBlasThread()


def reproducible(solver: _Solver) -> _Solver:
    """Decorate a public solver so that its bits depend on its inputs' values only.

    The wrapped solver receives every numeric or boolean ndarray argument
    (positional or keyword, or inside a list or tuple argument) as an
    :func:`aligned_copy` and runs with one BLAS
    thread (see the module docstring). Other arguments pass unchanged. The
    caller's arrays are never written.
    """

    @functools.wraps(solver)
    def wrapper(*args, **kwargs):
        args = tuple(_owned(value) for value in args)
        kwargs = {name: _owned(value) for name, value in kwargs.items()}
        with _ONE_BLAS_THREAD:
            return solver(*args, **kwargs)

    return wrapper


@numba.njit(cache=True, error_model="numpy")
def lane_sum(x):
    """sum(x) in a fixed order, vectorisable without reassociation.

    Lane j sums x[j], x[j + LANES], ... over the whole blocks of LANES entries;
    the lanes are added pairwise, then the remaining n % LANES entries in order.

    Parameters
    ----------
    x : ndarray of shape (n,), float64 or float32
        The sum is accumulated in this dtype.

    Returns
    -------
    float
        In ``x``'s dtype.
    """
    zero = x.dtype.type(0.0)
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
    n = x.shape[0]
    n_full = n - n % LANES
    for i in range(0, n_full, LANES):
        s0 += x[i]
        s1 += x[i + 1]
        s2 += x[i + 2]
        s3 += x[i + 3]
        s4 += x[i + 4]
        s5 += x[i + 5]
        s6 += x[i + 6]
        s7 += x[i + 7]
    total = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for i in range(n_full, n):
        total += x[i]
    return total


@numba.njit(cache=True, error_model="numpy")
def lane_log_product(x):
    """sum_i ln x_i in a fixed order, with one log per LOG_PRODUCT_BLOCK entries.

    Lane j multiplies x[j], x[j + LANES], ... over LOG_PRODUCT_BLOCK entries
    before its log is taken (the caller bounds x so that no such product under-
    or overflows); the n % LANES last entries are multiplied together.

    Parameters
    ----------
    x : ndarray of shape (n,), float64, entries > 0

    Returns
    -------
    float
    """
    n = x.shape[0]
    n_full = n - n % LANES
    stride = LANES * LOG_PRODUCT_BLOCK
    total = 0.0
    for start in range(0, n_full, stride):
        p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = 1.0
        for i in range(start, min(start + stride, n_full), LANES):
            p0 *= x[i]
            p1 *= x[i + 1]
            p2 *= x[i + 2]
            p3 *= x[i + 3]
            p4 *= x[i + 4]
            p5 *= x[i + 5]
            p6 *= x[i + 6]
            p7 *= x[i + 7]
        total += ((math.log(p0) + math.log(p1)) + (math.log(p2) + math.log(p3))) + (
            (math.log(p4) + math.log(p5)) + (math.log(p6) + math.log(p7))
        )
    rest = 1.0
    for i in range(n_full, n):
        rest *= x[i]
    return total + math.log(rest)
