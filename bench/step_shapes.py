"""The batched TAP step against a plain numpy batched step, over many shapes.

Imported by ``bench/kernels.py`` (run that). For every N in SHAPES_N, K in
SHAPES_K and both dtypes (alpha = SHAPES_ALPHA, so P = alpha N), one run times,
interleaved and best of SHAPE_REPEATS:

- hopsweep: the difference of two ``tap.solve`` calls whose iteration budgets
  differ by ``n`` (no temperature finishes early: damping 0.97 near the
  retrieval state, early stop off), divided by ``n``, so the fixed cost of a call
  (checks, exit check, free energy) drops out;
- numpy: the same AMP step (physics.md section c) written as a user would with
  whole-array numpy on the (K, N) layout, ``n`` times.

``n`` is chosen per shape so that each timing lasts about SHAPE_SECONDS. The
ratio numpy / hopsweep is printed per shape; ``step_vs_numpy`` is its minimum
over all shapes (>= 1: hopsweep's step is never slower), ``float32_speedup`` the
float64 / float32 time of hopsweep's step at N = SPEEDUP_N, K = SPEEDUP_K.
"""

from __future__ import annotations

import numpy as np
from timing import best_times

from kernels import tap
from kernels.patterns import iid, point_rng
from kernels.registry import DTYPES

SHAPES_N = (500, 2000, 8000, 16000)
SHAPES_K = (1, 8, 64)
SHAPES_ALPHA = 0.1
SHAPE_REPEATS = 5
#: Target duration of one timing (s); the iteration count follows from it.
SHAPE_SECONDS = 0.15
#: Fewest timed steps: with 3 at N = 16000 the difference of two solves was
#: smaller than their noise (negative step times under load).
MIN_STEPS = 10
#: Assumed rate for choosing the iteration count only (flop/s).
NOMINAL_FLOPS = 2e10
SPEEDUP_N, SPEEDUP_K = 4000, 32
#: Retrieval temperatures, started on the pattern, and a strong damping: the state
#: stays in the TAP domain and nothing converges within the budgets.
T_RANGE = (0.2, 0.3)
DAMPING = 0.97


def _numpy_steps(xi: np.ndarray, beta: np.ndarray, dtype: str, n: int):
    """``n`` plain numpy AMP steps on (K, N) arrays, ready to time."""
    P, N = xi.shape
    a = xi.astype(dtype)
    b = beta[:, None].astype(dtype)
    m0 = np.repeat(a[:1], beta.size, axis=0)

    def run():
        m, g = m0.copy(), m0 @ a.T / N
        for _ in range(n):
            c = b * (1 - np.einsum("kn,kn->k", m, m)[:, None] / N)
            g = (m @ a.T / N - c * g) / (1 - c)
            h = g @ a - (P / N) * m / (1 - c)
            new = (1 - DAMPING) * np.tanh(b * h) + DAMPING * m
            np.max(np.abs(new - m), axis=1)
            m = new

    return run


def _solve(xi: np.ndarray, beta: np.ndarray, dtype: str, n: int):
    return lambda: tap.solve(xi, beta, xi[0], damping=DAMPING, max_iter=n, dtype=dtype,
                             early_stop=False)


def step_times(N: int, K: int, dtype: str, repeats: int = SHAPE_REPEATS) -> dict:
    """Seconds per batched step of hopsweep and of numpy at one shape."""
    alpha = SHAPES_ALPHA
    xi = iid(N, alpha, point_rng(2017, N, alpha, 0)).xi
    beta = 1.0 / np.linspace(*T_RANGE, K)
    flops = 4.0 * N * xi.shape[0] * K
    n = int(np.clip(SHAPE_SECONDS * NOMINAL_FLOPS / flops, MIN_STEPS, 200))
    short, long = 2, 2 + n
    if int(_solve(xi, beta, dtype, long)().iterations.sum()) != K * long:  # warms Numba too
        raise RuntimeError(f"N={N} K={K} {dtype}: a temperature finished early")
    best = best_times({"short": _solve(xi, beta, dtype, short),
                       "long": _solve(xi, beta, dtype, long),
                       "numpy": _numpy_steps(xi, beta, dtype, n)}, repeats)
    return {"hopsweep": (best["long"] - best["short"]) / n, "numpy": best["numpy"] / n}


def report_step_shapes() -> dict:
    """Print the per-shape table; return ``step_vs_numpy`` and ``float32_speedup``."""
    print(f"batched TAP step against a plain numpy batched step (alpha = {SHAPES_ALPHA}), "
          "us per step, numpy / hopsweep:")
    ratios = []
    for N in SHAPES_N:
        cells = []
        for K in SHAPES_K:
            for dtype in DTYPES:
                t = step_times(N, K, dtype)
                ratios.append(t["numpy"] / t["hopsweep"])
                cells.append(f"K={K} {dtype[-2:]}: {t['hopsweep'] * 1e6:.0f}/{t['numpy'] * 1e6:.0f}"
                             f" = {ratios[-1]:.2f}")
        print(f"  N={N:<6} " + "  ".join(cells))
    t64 = step_times(SPEEDUP_N, SPEEDUP_K, "float64")["hopsweep"]
    t32 = step_times(SPEEDUP_N, SPEEDUP_K, "float32")["hopsweep"]
    print(f"  float32 step at N={SPEEDUP_N}, K={SPEEDUP_K}: {t32 * 1e6:.0f} us against "
          f"{t64 * 1e6:.0f} us in float64 ({t64 / t32:.2f}x)")
    return {"step_vs_numpy": min(ratios), "float32_speedup": t64 / t32}
