"""tanh in place as a vector loop: the neuron update m = tanh(beta h) of a TAP step.

numpy's float64 tanh is scalar libm on a CPU without AVX-512 (13.8 ns per
element on this project's AVX2 machines), which made it a fifth of a TAP step at
N = 2000; its float32 tanh takes 2.7 ns, with which a float32 step at N = 2000,
K = 32 ran at 67 % of the bound its two GEMMs set (74 % with this loop). Numba's
``math.tanh`` is the same libm call. This loop uses only arithmetic, which LLVM
vectorises, in the dtype of the array:

    tanh(t) = e / (e + 2),  e = expm1(2 t),  t = |x| >= 0,

with y = 2 t = k ln 2 + r (|r| <= ln 2 / 2, Cody-Waite reduction with a
two-part ln 2, so r is exact to a few ulp for every k below the cap),
expm1(r) by its Taylor series (to r^14 in float64, r^9 in float32: truncation
below 1e-18 and 1e-9 relative) and

    expm1(y) = 2^k expm1(r) + (2^k - 1),

2^k built exactly from the binary digits of k, in float arithmetic. y is
capped where e / (e + 2) already rounds to 1 (44 in float64, 20 in float32);
NaN stays NaN and +-inf gives +-1, as in numpy. Accuracy against the exact
tanh: at most 3 ulp of the dtype (tests/test_products.py). Per element, 2.8 ns
in float64 against numpy's 13.2, four lanes at a time (4.5 ns while k was an
integer: AVX2 has no packed float64-to-int64 conversion, so that step ran lane
by lane; same bits either way), and 1.3-1.5 ns in float32 against numpy's 2.7,
eight lanes at a time. No reassociation anywhere, so the bits do not depend on
the vector path taken (``kernels._reproducible``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["tanh_inplace"]

#: ln 2 in two parts: LN2_HIGH has trailing zero bits, so k LN2_HIGH is exact for
#: the k used here (fdlibm's splits: exp for float64, expf for float32).
LN2_HIGH = 6.93147180369123816490e-01
LN2_LOW = 1.90821492927058770002e-10
LN2_HIGH_32 = np.float32(6.9313812256e-01)
LN2_LOW_32 = np.float32(9.0580006145e-06)

#: Largest 2 |x| evaluated: tanh(22) rounds to 1 in float64, tanh(10) in float32.
Y_CAP = 44.0
Y_CAP_32 = np.float32(20.0)

#: 1 / n!, the Taylor coefficients of expm1 after its linear term: n = 2 ... 14
#: in float64, 2 ... 9 in float32.
INVERSE_FACTORIALS = tuple(1.0 / math.factorial(n) for n in range(2, 15))
INVERSE_FACTORIALS_32 = tuple(np.float32(c) for c in INVERSE_FACTORIALS[:8])


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _power_of_two(k, one):
    """2^k for an integer-valued float k in [0, 63], exactly, from its binary digits.

    ``one`` is 1 in the dtype of k: every constant is built from it (powers of
    two, exact in either dtype), so float32 stays float32. Float arithmetic only
    (each digit k - 2 floor(k / 2) is 0 or 1, each factor 2^(2^j) or 1): with an
    integer k the float-to-int64 conversion, which AVX2 lacks, ran lane by lane.
    Written out rather than as a loop over the six digits: the loop's chain of
    products made tanh 10-20 % slower (same bits).
    """
    two = one + one
    half = one / two
    p1 = two
    p2 = p1 * p1
    p4 = p2 * p2
    p8 = p4 * p4
    p16 = p8 * p8
    p32 = p16 * p16
    h = np.floor(half * k)
    d0, k = k - two * h, h
    h = np.floor(half * k)
    d1, k = k - two * h, h
    h = np.floor(half * k)
    d2, k = k - two * h, h
    h = np.floor(half * k)
    d3, k = k - two * h, h
    h = np.floor(half * k)
    d4, d5 = k - two * h, h
    return (((one + (p1 - one) * d0) * (one + (p2 - one) * d1))
            * ((one + (p4 - one) * d2) * (one + (p8 - one) * d3))
            * ((one + (p16 - one) * d4) * (one + (p32 - one) * d5)))


@numba.njit(error_model="numpy", fastmath={"contract"}, inline="always")
def _tanh_loop(x, cap, ln2_high, ln2_low, inverse_factorials):
    """x <- tanh(x) in place for a 1-d array, in x's dtype, with that dtype's
    constants; inlined into :func:`_tanh_flat64` and :func:`_tanh_flat32`, whose
    constants LLVM then folds in (passed at run time they made float64 11 % slower)."""
    one = x.dtype.type(1.0)
    zero, two = one - one, one + one
    half = one / two
    inv_ln2 = x.dtype.type(1.0 / math.log(2.0))
    last = len(inverse_factorials) - 1
    for i in range(x.shape[0]):
        v = x[i]
        y = two * abs(v)
        y = cap if y > cap else y                     # NaN passes
        k = np.floor(y * inv_ln2 + half)              # a float: math.floor gives an int
        k = zero if not k >= zero else k              # NaN -> 0
        r = (y - k * ln2_high) - k * ln2_low
        # expm1(r) = r + r^2 (1/2! + r (1/3! + r (...))), Horner
        p = inverse_factorials[last]
        for n in range(last - 1, -1, -1):
            p = inverse_factorials[n] + r * p
        em1 = r + r * r * p
        scale = _power_of_two(k, one)
        e = scale * em1 + (scale - one)               # expm1(y)
        t = e / (e + two)
        x[i] = math.copysign(t, v)


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _tanh_flat64(x):
    _tanh_loop(x, Y_CAP, LN2_HIGH, LN2_LOW, INVERSE_FACTORIALS)


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _tanh_flat32(x):
    _tanh_loop(x, Y_CAP_32, LN2_HIGH_32, LN2_LOW_32, INVERSE_FACTORIALS_32)


#: The loop compiled for each dtype a TAP step iterates in.
_TANH = {np.dtype(np.float64): _tanh_flat64, np.dtype(np.float32): _tanh_flat32}


def tanh_inplace(x: np.ndarray) -> None:
    """x <- tanh(x) elementwise, in place, in x's dtype.

    Parameters
    ----------
    x : ndarray, float32 or float64, C-contiguous (any shape)
    """
    _TANH[x.dtype](x.reshape(-1))
