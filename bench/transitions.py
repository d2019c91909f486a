"""Transition mode: adaptive K-section against a dense temperature grid, and N = 16000.

Run: ``python bench/transitions.py`` (about 3-5 minutes on 2 cores).

1. The same samples and the same T_M precision, side by side in one run:

   - adaptive: :func:`kernels.transition.retrieval_temperature`, 8 temperatures
     per round, each round one batched TAP call, stopping when the bracket is
     ``PRECISION`` wide;
   - dense: one batched TAP call over a grid of spacing ``PRECISION`` covering the
     same bracket (every temperature started on pattern 0, as in the adaptive
     mode), T_M read as the midpoint between the last retrieving temperature and
     the next one: the same estimator at the same resolution.

   ``iterations_ratio`` = dense / adaptive TAP iterations (summed over
   temperatures and samples; the work, independent of machine load), target
   >= 10; wall times of both are printed side by side. The two estimates agree
   within ``PRECISION`` on every sample that is monotone on the dense grid.

2. One sample at N = 16000 with nested patterns up to alpha = 0.14 (P = 2240),
   in a fresh process: alpha_c at T = 0.1 and T_M at alpha = 0.1, its wall time
   and the process's peak resident memory (``n16000_peak_mib``, target well
   below the 24 GiB of a worker).

The last line is machine-readable:
``iterations_ratio=R adaptive_seconds=A dense_seconds=D n16000_seconds=S n16000_peak_mib=M``.
"""

from __future__ import annotations

import multiprocessing
import resource
import time

import _unshadow  # noqa: F401  (first: the kernels package, not bench/kernels.py)
import numpy as np

from kernels import patterns, rs, tap, transition

ROOT_SEED = 2017
ALPHA = 0.06
SIZES = (1000, 2000)
SEEDS = range(4)
T_BRACKET = (0.05, 1.3)
PRECISION = 0.002
#: Solver budget of both modes (the SolverOptions default).
MAX_ITER = 2000

LARGE_N = 16000
LARGE_ALPHA_MAX = 0.14
LARGE_T = 0.1
LARGE_LOAD_BRACKET = (0.10, LARGE_ALPHA_MAX)
LARGE_T_M_ALPHA = 0.1
LARGE_T_BRACKET = (0.1, 0.6)
KIB_PER_MIB = 1024


def dense_retrieval_temperature(xi: np.ndarray) -> tuple[float, int, bool]:
    """T_M of one sample read off a dense grid: (estimate, iterations, monotone)."""
    T = np.arange(T_BRACKET[0], T_BRACKET[1] + PRECISION / 2, PRECISION)
    solution = tap.solve(xi, 1.0 / T, max_iter=MAX_ITER)
    hit = transition.retrieved(solution)
    last = int(np.flatnonzero(hit)[-1])
    estimate = 0.5 * (T[last] + T[min(last + 1, T.size - 1)])
    return estimate, int(solution.iterations.sum()), bool(hit[: last + 1].all())


def compare() -> tuple[float, float, float]:
    """Adaptive and dense T_M on the same samples; returns (ratio, adaptive s, dense s)."""
    work = {"adaptive": 0, "dense": 0}
    seconds = {"adaptive": 0.0, "dense": 0.0}
    print(f"T_M(alpha = {ALPHA}), bracket {T_BRACKET}, precision {PRECISION}, "
          f"RS {rs.retrieval_temperature(ALPHA):.4f}")
    print(f"{'N':>6} {'seed':>4} {'adaptive':>9} {'dense':>9} {'evals':>6} "
          f"{'it_adapt':>9} {'it_dense':>9} {'monotone':>8}")
    for N in SIZES:
        for seed in SEEDS:
            xi = patterns.iid(N, ALPHA, patterns.point_rng(ROOT_SEED, N, ALPHA, seed)).xi
            start = time.perf_counter()
            found = transition.retrieval_temperature(xi, *T_BRACKET, precision=PRECISION)
            seconds["adaptive"] += time.perf_counter() - start
            start = time.perf_counter()
            dense, dense_work, monotone = dense_retrieval_temperature(xi)
            seconds["dense"] += time.perf_counter() - start
            work["adaptive"] += found.iterations
            work["dense"] += dense_work
            if monotone and found.status == transition.TRANSITION_LOCATED:
                assert abs(found.estimate - dense) <= PRECISION, (found, dense)
            print(f"{N:>6} {seed:>4} {found.estimate:>9.4f} {dense:>9.4f} "
                  f"{found.evaluations:>6} {found.iterations:>9} {dense_work:>9} {monotone!s:>8}")
    ratio = work["dense"] / work["adaptive"]
    print(f"iterations: adaptive {work['adaptive']}, dense {work['dense']}, ratio {ratio:.1f}")
    print(f"wall time:  adaptive {seconds['adaptive']:.1f} s, dense {seconds['dense']:.1f} s, "
          f"ratio {seconds['dense'] / seconds['adaptive']:.1f}")
    return ratio, seconds["adaptive"], seconds["dense"]


def large_sample(queue) -> None:
    """Child process: one N = 16000 sample; puts (seconds, peak MiB, results) on ``queue``."""
    start = time.perf_counter()
    sample = patterns.iid(LARGE_N, LARGE_ALPHA_MAX,
                          patterns.point_rng(ROOT_SEED, LARGE_N, 0.0, 0))
    load = transition.critical_load(sample, LARGE_T, *LARGE_LOAD_BRACKET, precision=PRECISION)
    P = patterns.n_patterns(LARGE_N, LARGE_T_M_ALPHA)
    T_M = transition.retrieval_temperature(transition.first_patterns(sample, P),
                                           *LARGE_T_BRACKET, precision=PRECISION)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB
    queue.put((time.perf_counter() - start, peak, load, T_M))


def large() -> tuple[float, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=large_sample, args=(queue,))
    child.start()
    seconds, peak, load, T_M = queue.get()
    child.join()
    print(f"N = {LARGE_N}, patterns up to alpha = {LARGE_ALPHA_MAX} "
          f"(P = {patterns.n_patterns(LARGE_N, LARGE_ALPHA_MAX)}, float64 "
          f"{LARGE_N * patterns.n_patterns(LARGE_N, LARGE_ALPHA_MAX) * 8 / 2**20:.0f} MiB):")
    print(f"  alpha_c(T = {LARGE_T}) = {load.estimate:.4f} (RS {rs.critical_load(LARGE_T):.4f}), "
          f"{load.evaluations} loads, {load.iterations} iterations, status {load.status}")
    print(f"  T_M(alpha = {LARGE_T_M_ALPHA}) = {T_M.estimate:.4f} "
          f"(RS {rs.retrieval_temperature(LARGE_T_M_ALPHA):.4f}), {T_M.evaluations} "
          f"temperatures, {T_M.iterations} iterations, status {T_M.status}")
    print(f"  {seconds:.1f} s, peak resident memory {peak:.0f} MiB")
    return seconds, peak


def main() -> None:
    ratio, adaptive, dense = compare()
    seconds, peak = large()
    print(f"iterations_ratio={ratio:.2f} adaptive_seconds={adaptive:.2f} "
          f"dense_seconds={dense:.2f} n16000_seconds={seconds:.1f} n16000_peak_mib={peak:.0f}")


if __name__ == "__main__":
    main()
