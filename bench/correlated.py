"""Cost of the correlated-pattern solvers, measured side by side in one run.

One core (BLAS limited with threadpoolctl; set NUMBA_NUM_THREADS=1 too). The
candidates of each section are interleaved, each repeat times each once, and the
best time of each is kept (the machine is shared and noisy). Sections, at
alpha = 0.1, K = 32 temperatures, feature model alpha_D = 0.2, field 1.0 xi^0,
T in [2, 5] (a region where every solver converges):

- spectral R(x): one evaluation for K temperatures, as a fraction of the two
  GEMMs of one TAP step (K x N times N x P, twice) at N = 2000 and 4000;
- TAP per point-iteration: reaction "spectral" against "iid" (wall time over the
  sum of iterations), ratio spectral / iid;
- multi-layer AMP per point-iteration against spectral TAP, ratio layered / TAP
  (AMP does 2 (N D + D P) K multiply-adds per step against 2 N P K for TAP).

Run ``python bench/correlated.py``; the last line is
``reaction_over_gemm=... spectral_over_iid=... layered_over_tap=...``.
"""

from __future__ import annotations

import _unshadow  # noqa: F401  (first: the kernels package, not bench/kernels.py)
import numpy as np
from threadpoolctl import threadpool_limits
from timing import best_times

from kernels import layered, tap
from kernels.patterns import features
from kernels.reaction import make_reaction

ALPHA = 0.1
ALPHA_D = 0.2
K = 32
REPEATS = 5
FIELD = 1.0


def _best(candidates: dict, repeats: int = REPEATS) -> dict:
    return best_times(candidates, repeats)


def reaction_versus_gemm(N: int) -> float:
    pats = features(N, ALPHA, np.random.default_rng(0), alpha_D=ALPHA_D)
    reaction = make_reaction("spectral", pats.xi)
    x = np.linspace(0.0, reaction.x_max, K)
    m = np.random.default_rng(1).uniform(-1, 1, (K, N))
    xi = pats.xi

    def gemms():
        (m @ xi.T) @ xi

    best = _best({"reaction": lambda: reaction(x), "gemms": gemms})
    return best["reaction"] / best["gemms"]


def per_iteration(N: int) -> dict:
    pats = features(N, ALPHA, np.random.default_rng(0), alpha_D=ALPHA_D)
    beta = 1.0 / np.linspace(2.0, 5.0, K)
    field = FIELD * pats.xi[0]
    iterations = {}

    def timed(name, solve):
        def run():
            iterations[name] = int(solve().iterations.sum())
        return run

    candidates = {
        "spectral": timed("spectral", lambda: tap.solve(pats.xi, beta, field=field,
                                                        reaction="spectral", tol=1e-10)),
        "iid": timed("iid", lambda: tap.solve(pats.xi, beta, field=field, reaction="iid",
                                              tol=1e-10)),
        "layered": timed("layered", lambda: layered.solve(pats.features, list(pats.mixing),
                                                          beta, field=field, tol=1e-10)),
    }
    best = _best(candidates)
    return {name: best[name] / iterations[name] for name in candidates}


def main() -> dict:
    results = {}
    with threadpool_limits(limits=1):
        for N in (2000, 4000):
            ratio = reaction_versus_gemm(N)
            print(f"N={N}: spectral R(x) for K={K} costs {ratio:.3f} of one TAP step's GEMMs")
            results[f"reaction_over_gemm_{N}"] = ratio
        cost = per_iteration(2000)
        for name, seconds in cost.items():
            print(f"N=2000 {name}: {1e6 * seconds:.1f} us per point-iteration")
    results["reaction_over_gemm"] = results["reaction_over_gemm_2000"]
    results["spectral_over_iid"] = cost["spectral"] / cost["iid"]
    results["layered_over_tap"] = cost["layered"] / cost["spectral"]
    print(" ".join(f"{key}={results[key]:.3f}"
                   for key in ("reaction_over_gemm", "spectral_over_iid", "layered_over_tap")))
    return results


if __name__ == "__main__":
    main()
