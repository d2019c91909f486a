"""Cost of relaxed BP per (point, iteration) against TAP, measured side by side.

Both solvers run on the same pattern matrix, the same K temperatures, the same
dtype (float64 by default; float32 as well in the table), one BLAS thread
(threadpoolctl) and one Numba thread:

- TAP: ``kernels.tap.solve`` batched over the K temperatures (GEMM steps);
- relaxed BP: ``kernels.bp.solve(..., retrieved=0, relaxed=True)`` (the
  ``bp_retrieval`` algorithm; its sweep is the relaxed one over P - 1 patterns),
  which iterates one temperature at a time.

Both start on pattern 0 and run a fixed budget of ``n_iter`` iterations with
an unreachable tolerance and TAP's early stop off; the cost per (point, iteration)
is the wall time divided by the sum over temperatures of the iterations each
solver reports (a temperature can still stop early, e.g. BP on divergence).

A second table times one relaxed sweep (float64, N = 2000, P = 200) and its
first pass alone, beside two floors measured in the same run: a bare division
loop, P N divisions on a cache-resident row (pass 1 needs one per message), and
a bare copy of the P x N patterns into an array the size of the messages
(pass 2 streams both from L3: 6.4 MB against 2 MB of L2 here).

Run ``python bench/bp_cost.py`` for the tables.
"""

from __future__ import annotations

import time

import _unshadow  # noqa: F401  (first: the kernels package, not bench/kernels.py)
import numba
import numpy as np
from threadpoolctl import threadpool_limits

from kernels import bp, tap

#: Temperatures of the benchmark: the retrieval region and above at alpha = 0.1.
T_RANGE = (0.1, 0.6)
#: Tolerance below any reachable residual (TAP raises it to its float64 floor),
#: so the iteration budget is spent.
UNREACHABLE_TOL = 1e-300


def _us_per_point_iteration(run) -> tuple[float, int]:
    """Wall time of ``run()`` in microseconds per (point, iteration), and the count."""
    start = time.perf_counter()
    solution = run()
    elapsed = time.perf_counter() - start
    count = int(np.sum(solution.iterations))
    return 1e6 * elapsed / count, count


def bp_relaxed_over_tap(
    N: int = 2000,
    alpha: float = 0.1,
    K: int = 16,
    n_iter: int = 50,
    repeats: int = 3,
    seed: int = 0,
    dtype: str = "float64",
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
    repeats : int, default=3
        Interleaved repetitions (TAP, BP, TAP, BP, ...); the fastest of each is
        kept, the usual estimate on a shared, noisy machine.
    seed : int, default=0
        Seed of the pattern matrix.
    dtype : {"float64", "float32"}, default="float64"
        Iteration dtype of both solvers.

    Returns
    -------
    dict
        ``bp_relaxed_over_tap``: ratio of the costs per (point, iteration);
        ``bp_us``, ``tap_us``: the two costs in microseconds;
        ``bp_iterations``, ``tap_iterations``: point-iterations per run;
        ``bp_ns_per_edge``: BP cost per message per sweep (P - 1 hidden units);
        ``N``, ``P``, ``K``, ``dtype``.
    """
    P = round(alpha * N)
    xi = np.random.default_rng(seed).choice([-1.0, 1.0], size=(P, N))
    beta = 1.0 / np.linspace(*T_RANGE, K)
    m0 = xi[0].copy()
    with threadpool_limits(limits=1):
        # Warm-up (Numba compilation or cache load) outside the timed calls.
        bp.solve(xi[:, :64], beta[:1], m0[:64], retrieved=0, max_iter=2, dtype=dtype)
        tap.solve(xi, beta, m0, max_iter=2, dtype=dtype)
        runs = {"tap": [], "bp": []}
        for _ in range(repeats):
            runs["tap"].append(
                _us_per_point_iteration(
                    lambda: tap.solve(
                        xi,
                        beta,
                        m0,
                        tol=UNREACHABLE_TOL,
                        max_iter=n_iter,
                        early_stop=False,
                        dtype=dtype,
                    )
                )
            )
            runs["bp"].append(
                _us_per_point_iteration(
                    lambda: bp.solve(
                        xi,
                        beta,
                        m0,
                        retrieved=0,
                        relaxed=True,
                        tol=UNREACHABLE_TOL,
                        max_iter=n_iter,
                        dtype=dtype,
                    )
                )
            )
    tap_us, tap_it = min(runs["tap"])
    bp_us, bp_it = min(runs["bp"])
    return {
        "bp_relaxed_over_tap": bp_us / tap_us,
        "bp_us": bp_us,
        "tap_us": tap_us,
        "bp_iterations": bp_it,
        "bp_ns_per_edge": 1e3 * bp_us / ((P - 1) * N),
        "tap_iterations": tap_it,
        "N": N,
        "P": P,
        "K": K,
        "dtype": dtype,
    }


@numba.njit(cache=True, error_model="numpy")
def _pass_one(xi, beta, t, u, xm_cav, w_cav):
    """Pass 1 of the relaxed sweep alone: cavity quantities of every row."""
    total = 0.0
    for mu in range(xi.shape[0]):
        A, V, _ = bp._sweep_row(xi[mu], beta, t, u[mu], xm_cav, w_cav)
        total += A + V
    return total


@numba.njit(cache=True, error_model="numpy")
def _divide(a, b, out, rows):
    """Floor of pass 1: one division per message, on one cache-resident row
    (N,) redone ``rows`` times (division throughput, no memory traffic)."""
    for _ in range(rows):
        for i in range(a.shape[0]):
            out[i] = a[i] / b[i]


@numba.njit(cache=True, error_model="numpy")
def _stream(xi, copy):
    """Floor of pass 2: read the P x N patterns, write a P x N array."""
    for mu in range(xi.shape[0]):
        for i in range(xi.shape[1]):
            copy[mu, i] = xi[mu, i]


def sweep_floors(N: int = 2000, P: int = 200, repeats: int = 15, seed: int = 0) -> dict:
    """ns per message of one relaxed sweep, its first pass, and the two floors.

    Float64, beta = 2, damping 0.5, polarised fields (t = tanh of about ±2) and
    messages u ~ 0.02 N(0, 1), so that beta V_mu < 1 and the sweep runs through.
    Interleaved repeats; the fastest of each is kept.
    """
    rng = np.random.default_rng(seed)
    xi = rng.choice([-1.0, 1.0], size=(P, N))
    beta = 2.0
    beta_H = 2.0 * np.sign(rng.standard_normal(N)) + 0.3 * rng.standard_normal(N)
    t = np.tanh(beta_H)
    u = 0.02 * rng.standard_normal((P, N))
    H_new, xm_cav, w_cav, copy = np.empty(N), np.empty(N), np.empty(N), np.empty((P, N))
    a, b, out = rng.standard_normal(N), 1.0 + rng.random(N), np.empty(N)

    def sweep():
        # repeated sweeps at fixed t move u towards its fixed point, where the
        # messages stay small: the check guards against a sweep that stopped early
        if not bp._relaxed_sweep(xi, 1.0, beta, t, beta_H, u, 0.5, H_new, xm_cav, w_cav) < 1:
            raise RuntimeError("beta V >= 1: the sweep stopped early")

    runs = {
        "sweep": sweep,
        "pass 1": lambda: _pass_one(xi, beta, t, u, xm_cav, w_cav),
        "division floor": lambda: _divide(a, b, out, P),
        "streaming floor": lambda: _stream(xi, copy),
    }
    best = dict.fromkeys(runs, np.inf)
    with threadpool_limits(limits=1):
        for run in runs.values():
            run()  # compile or load the cache
        for _ in range(repeats):
            for name, run in runs.items():
                best[name] = min(best[name], _seconds_of(run))
    return {name: 1e9 * seconds / (P * N) for name, seconds in best.items()}


def _seconds_of(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    for dtype in ("float64", "float32"):
        result = bp_relaxed_over_tap(dtype=dtype)
        print(f"N = {result['N']}, P = {result['P']}, K = {result['K']}, {dtype}, 1 thread")
        print(f"{'solver':<28}{'us / (point, iteration)':>26}{'point-iterations':>20}")
        print(
            f"{'TAP (batched over K)':<28}{result['tap_us']:>26.1f}{result['tap_iterations']:>20d}"
        )
        print(f"{'relaxed BP (per T)':<28}{result['bp_us']:>26.1f}{result['bp_iterations']:>20d}")
        print(f"relaxed BP per message and sweep: {result['bp_ns_per_edge']:.2f} ns")
        print(f"bp_relaxed_over_tap ({dtype}) = {result['bp_relaxed_over_tap']:.2f}")
    print("one relaxed sweep, float64, N = 2000, P = 200, ns per message:")
    for name, ns in sweep_floors().items():
        print(f"  {name:<18}{ns:6.2f}")


if __name__ == "__main__":
    main()
