"""Cost of relaxed BP per (point, iteration) against TAP, measured side by side.

Both solvers run on the same pattern matrix, the same K temperatures, float64,
one BLAS thread (threadpoolctl) and one Numba thread:

- TAP: ``kernels.tap.solve`` batched over the K temperatures (GEMM steps);
- relaxed BP: ``kernels.bp.solve(..., retrieved=0, relaxed=True)`` (the
  ``bp_retrieval`` algorithm; its sweep is the relaxed one over P - 1 patterns),
  which iterates one temperature at a time.

Both start on pattern 0 and run a fixed budget of ``n_iter`` iterations with
an unreachable tolerance and TAP's early stop off; the cost per (point, iteration)
is the wall time divided by the sum over temperatures of the iterations each
solver reports (a temperature can still stop early, e.g. BP on divergence).

Run ``python bench/bp_cost.py`` for a table.
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from kernels import bp, tap

#: Temperatures of the benchmark: the retrieval region and above at alpha = 0.1.
T_RANGE = (0.1, 0.6)
#: Tolerance below any reachable residual (TAP raises it to its float64 floor),
#: so the iteration budget is spent.
UNREACHABLE_TOL = 1e-300


def _timed(run) -> tuple[float, int]:
    start = time.perf_counter()
    solution = run()
    return time.perf_counter() - start, int(np.sum(solution.iterations))


def bp_relaxed_over_tap(
    N: int = 2000, alpha: float = 0.1, K: int = 16, n_iter: int = 50, seed: int = 0
) -> dict:
    """Relaxed-BP cost per (point, iteration) relative to batched TAP.

    Parameters
    ----------
    N : int, default=2000
        Number of neurons.
    alpha : float, default=0.1
        Load; P = round(alpha N) patterns, ±1.
    K : int, default=16
        Temperatures, evenly spaced on T_RANGE.
    n_iter : int, default=50
        Iteration budget of each solver (spent: the tolerance is unreachable).
    seed : int, default=0
        Seed of the pattern matrix.

    Returns
    -------
    dict
        ``bp_relaxed_over_tap``: ratio of the costs per (point, iteration);
        ``bp_us``, ``tap_us``: the two costs in microseconds;
        ``bp_iterations``, ``tap_iterations``: point-iterations timed;
        ``N``, ``P``, ``K``.
    """
    P = round(alpha * N)
    xi = np.random.default_rng(seed).choice([-1.0, 1.0], size=(P, N))
    beta = 1.0 / np.linspace(*T_RANGE, K)
    m0 = xi[0].copy()
    with threadpool_limits(limits=1):
        # Warm-up (Numba compilation or cache load) outside the timed calls.
        bp.solve(xi[:, :64], beta[:1], m0[:64], retrieved=0, max_iter=2)
        tap.solve(xi, beta, m0, max_iter=2)
        tap_s, tap_it = _timed(
            lambda: tap.solve(xi, beta, m0, tol=UNREACHABLE_TOL, max_iter=n_iter, early_stop=False)
        )
        bp_s, bp_it = _timed(
            lambda: bp.solve(
                xi, beta, m0, retrieved=0, relaxed=True, tol=UNREACHABLE_TOL, max_iter=n_iter
            )
        )
    bp_us = 1e6 * bp_s / bp_it
    tap_us = 1e6 * tap_s / tap_it
    return {
        "bp_relaxed_over_tap": bp_us / tap_us,
        "bp_us": bp_us,
        "tap_us": tap_us,
        "bp_iterations": bp_it,
        "tap_iterations": tap_it,
        "N": N,
        "P": P,
        "K": K,
    }


def main() -> None:
    result = bp_relaxed_over_tap()
    print(f"N = {result['N']}, P = {result['P']}, K = {result['K']}, float64, 1 thread")
    print(f"{'solver':<28}{'us / (point, iteration)':>26}{'point-iterations':>20}")
    print(f"{'TAP (batched over K)':<28}{result['tap_us']:>26.1f}{result['tap_iterations']:>20d}")
    print(f"{'relaxed BP (per T)':<28}{result['bp_us']:>26.1f}{result['bp_iterations']:>20d}")
    print(f"bp_relaxed_over_tap = {result['bp_relaxed_over_tap']:.2f}")


if __name__ == "__main__":
    main()
