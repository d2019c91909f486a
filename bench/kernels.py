"""Speed of the batched TAP kernel, measured side by side in one run.

Everything runs on one core: BLAS limited to one thread with threadpoolctl
(set NUMBA_NUM_THREADS=1 as well). The machine is shared and noisy, so the
timed candidates are interleaved (each repeat times each once) and the best
time of each is kept. Sections:

- GEMM peak: numpy matmul, square GEMM_N x GEMM_N, per dtype;
- batched TAP step at N = 2000, alpha = 0.1, K = 32 in GFLOP/s (4 N P flops per
  point-iteration) and as a fraction of the peak of its dtype, next to the time
  of its two tall-skinny GEMMs alone (the bound for this shape). The step time is
  the difference of two ``tap.solve`` runs with iteration budgets STEP_ITERS,
  divided by the extra point-iterations, so the fixed cost of a call (checks,
  final overlaps, free energy) drops out;
- speed-up over a plain numpy loop that iterates each (alpha, T) point alone in
  float64 (the same damped AMP step with matrix-vector products): its time per
  point-iteration divided by the batched solver's (float32, and float64);
- shapes (``bench/step_shapes.py``): the step against a plain numpy batched
  step from N = 500 to 16000 and K = 1 to 64, both dtypes, and the float32
  speed-up at N = 4000;
- early stop: on the first grid of ``bench/early_stop.py`` (N = 1000, five loads
  up to 0.12, T across [0.05, 1.2]), point-iterations with and without the early
  stop, the share spent on points that end unconverged, and converging states lost
  (that bench runs seven grids).

- exit check: on the early-stop grid (with the early stop), the time of the
  exit check of ``tap.solve`` (the equation residual recomputed at the returned
  states, one batched step for all K) over the time of the whole solve;
- random starts: ``random`` and ``paramagnetic`` inits at N = START_N, alpha in
  START_ALPHAS, T in START_T (below 0.9), START_SAMPLES samples: the share of
  points per status and the classes of the converged ones (condensed patterns),
  next to Monte Carlo quenches from the same starts (QUENCH_CHAINS chains of
  QUENCH_SWEEPS sweeps, classes of the chains' averaged states).

Run ``python bench/kernels.py``. The last line is built from the dict of results:
``tap_fraction_of_peak=F speedup_vs_loop=S step_vs_numpy=V float32_speedup=G
bp_relaxed_over_tap=R exit_check_fraction=E random_start_converged=C
random_start_diverged=D bp_exit_check_share=B`` (random starts: shares at
alpha = 0.01 and over all START_ALPHAS).
"""

from __future__ import annotations

import importlib.util
import time

import _unshadow  # first: the kernels package, not this file
import early_stop
import numpy as np
from step_shapes import report_step_shapes
from threadpoolctl import threadpool_limits

from kernels import montecarlo, tap
from kernels.initial import initial_state
from kernels.patterns import iid, point_rng
from kernels.reaction import make_reaction
from kernels.solution import CONVERGED, condensation_threshold
from kernels.status import STATUS_MEANINGS

ROOT_SEED = 2017
#: Square GEMM size for the peak and repetitions (best time kept: the machine is
#: shared, and the best of several runs is the least disturbed one).
GEMM_N = 2000
REPEATS = 7
#: Step benchmark: N, alpha, K and the two iteration budgets whose times are subtracted.
STEP_N, STEP_ALPHA, STEP_K = 2000, 0.1, 32
STEP_ITERS = (10, 110)
#: Retrieval temperatures at alpha = 0.1 (T_M = 0.315). With damping 0.97 the
#: iteration contracts slowly, so no temperature reaches tol within STEP_ITERS
#: and all K stay active (checked: the iteration counts are reported).
STEP_T = (0.2, 0.3)
STEP_DAMPING = 0.97
#: Early-stop grid.
EARLY_STOP_GRID = early_stop.GRIDS[0]
#: Plain loop baseline: temperatures and iterations per temperature.
LOOP_POINTS, LOOP_ITERS = 8, 40
#: Random starts (the acceptance grid of issue 14: below T = 0.9, alpha 0.01-0.05).
START_N, START_SAMPLES = 1000, 6
START_ALPHAS = (0.01, 0.02, 0.03, 0.05)
START_T = np.round(np.arange(0.1, 0.85, 0.1), 2)
START_MAX_ITER = 2000
#: Monte Carlo quenches from the same starts, on the first QUENCH_SAMPLES samples
#: at QUENCH_T (one sweep costs about a TAP iteration per chain here).
QUENCH_SAMPLES, QUENCH_T = 2, np.array([0.3, 0.5, 0.7])
QUENCH_CHAINS, QUENCH_SWEEPS = 8, 400


def _seconds(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _gemm_run(dtype: str, n: int = GEMM_N):
    """A square n x n matmul in ``dtype`` (2 n^3 flops), ready to time."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    return lambda: np.matmul(a, b, out=out)


def _step_gemms_run(xi: np.ndarray, dtype: str):
    """The two products of a batched step, as many times as the timed steps of
    the solver (GEMM-only bound), column layout."""
    P, N = xi.shape
    a, a_t = xi.astype(dtype), np.ascontiguousarray(xi.T.astype(dtype))
    m = np.ones((N, STEP_K), dtype=dtype)
    overlap, field = np.empty((P, STEP_K), dtype=dtype), np.empty((N, STEP_K), dtype=dtype)

    def run():
        for _ in range(STEP_ITERS[1] - STEP_ITERS[0]):
            np.matmul(a, m, out=overlap)
            np.matmul(a_t, overlap, out=field)

    return run


def _step_patterns():
    return iid(STEP_N, STEP_ALPHA, point_rng(ROOT_SEED, STEP_N, STEP_ALPHA, 0)).xi


def _tap_run(xi: np.ndarray, dtype: str, n_iter: int):
    """A batched ``tap.solve`` of STEP_K temperatures for exactly n_iter iterations."""
    beta = 1.0 / np.linspace(*STEP_T, STEP_K)
    m0 = 0.9 * xi[0]
    return lambda: tap.solve(
        xi, beta, m0, damping=STEP_DAMPING, max_iter=n_iter, dtype=dtype, early_stop=False
    )


def _loop_one_point(
    xi: np.ndarray, beta: float, m0: np.ndarray, n_iter: int, damping: float
) -> np.ndarray:
    """The plain baseline: one point alone, AMP step with matrix-vector products."""
    P, N = xi.shape
    alpha = P / N
    m = m0.copy()
    g_bar = np.zeros(P)
    for t in range(n_iter):
        M = xi @ m / N
        x = min(beta * (1.0 - m @ m / N), 0.95)
        g = M if t == 0 else (M - x * g_bar) / (1.0 - x)
        g_bar = damping * g_bar + (1.0 - damping) * g
        h = xi.T @ g - alpha * m / (1.0 - x)
        m = (1.0 - damping) * np.tanh(beta * h) + damping * m
    return m


def _loop_run(xi: np.ndarray):
    """Plain numpy loop over LOOP_POINTS temperatures, each alone, float64."""
    temperatures = np.linspace(*STEP_T, LOOP_POINTS)

    def run():
        for T in temperatures:
            _loop_one_point(xi, 1.0 / T, 0.9 * xi[0], LOOP_ITERS, STEP_DAMPING)

    return run


def speed(repeats: int = REPEATS) -> dict:
    """GEMM peak, batched TAP step and the plain loop, timed interleaved.

    Each repeat times every candidate once, so all see the same machine load;
    the best time of each over the repeats is kept.
    """
    xi = _step_patterns()
    P, N = xi.shape
    dtypes = ("float32", "float64")
    runs = {("gemm", d): _gemm_run(d) for d in dtypes}
    runs |= {("gemm_step", d): _step_gemms_run(xi, d) for d in dtypes}
    for d in dtypes:
        for n in STEP_ITERS:
            counts = int(_tap_run(xi, d, n)().iterations.sum())  # also warms up Numba
            if counts != STEP_K * n:
                raise RuntimeError(f"{d}: a temperature finished before {n} iterations")
            runs[("tap", d, n)] = _tap_run(xi, d, n)
    runs[("loop",)] = _loop_run(xi)
    best = dict.fromkeys(runs, np.inf)
    for _ in range(repeats):
        for key, run in runs.items():
            best[key] = min(best[key], _seconds(run))
    result = {"loop_seconds": best[("loop",)] / (LOOP_POINTS * LOOP_ITERS)}
    for d in dtypes:
        step = (best[("tap", d, STEP_ITERS[1])] - best[("tap", d, STEP_ITERS[0])]) / (
            STEP_K * (STEP_ITERS[1] - STEP_ITERS[0])
        )
        result[d] = {
            "peak": 2.0 * GEMM_N**3 / best[("gemm", d)] / 1e9,
            "step_seconds": step,
            "gflops": 4.0 * N * P / step / 1e9,
            "gemm_bound_seconds": best[("gemm_step", d)]
            / (STEP_K * (STEP_ITERS[1] - STEP_ITERS[0])),
        }
    return result


def exit_check_fraction(repeats: int = REPEATS) -> dict:
    """Time of the exit check over the time of the solve on the early-stop grid.

    Each repeat times, per alpha, the whole ``tap.solve`` (early stop on) and the
    residual recomputation it ends with (``tap.equation_residual`` on the
    returned states); the best time of each over the repeats is kept.
    """
    grid, max_iter = EARLY_STOP_GRID, early_stop.MAX_ITER
    cases = []
    for alpha in grid.alphas:
        xi = grid.patterns(alpha)
        sol = tap.solve(xi, grid.beta, max_iter=max_iter)
        system = tap._System.build(xi, None, make_reaction("iid", xi))
        cases.append((xi, system, sol.m, int(sol.iterations.sum())))
    best_solve = best_check = np.inf
    for _ in range(repeats):
        t_solve = sum(
            _seconds(lambda xi=xi: tap.solve(xi, grid.beta, max_iter=max_iter))
            for xi, *_ in cases
        )
        t_check = sum(
            _seconds(lambda s=system, m=m: tap.equation_residual(s, grid.beta, m))
            for _, system, m, _ in cases
        )
        best_solve, best_check = min(best_solve, t_solve), min(best_check, t_check)
    iterations = sum(c[3] for c in cases)
    return {"solve": best_solve, "check": best_check, "iterations": iterations,
            "points": len(cases) * len(grid.T)}


def _classes(n_condensed: np.ndarray) -> dict:
    """Counts of 0, 1 and >= 2 condensed patterns."""
    return {"none": int(np.sum(n_condensed == 0)), "one": int(np.sum(n_condensed == 1)),
            "several": int(np.sum(n_condensed >= 2))}


def random_starts() -> dict:
    """Status shares and classes of TAP from random and paramagnetic starts, and the
    classes Monte Carlo quenches from the same starts reach (see the module docstring)."""
    result = {}
    for alpha in START_ALPHAS:
        for init in ("random", "paramagnetic"):
            statuses, condensed, quench_tap, quench_mc = [], [], [], []
            for seed in range(START_SAMPLES):
                xi = iid(START_N, alpha, point_rng(ROOT_SEED, START_N, alpha, seed)).xi
                m0 = initial_state(xi, init, point_rng(ROOT_SEED, START_N, alpha, seed, "init"))
                sol = tap.solve(xi, 1.0 / START_T, m0, max_iter=START_MAX_ITER)
                statuses.append(sol.status)
                condensed.append(sol.n_condensed[sol.status == CONVERGED])
                if seed < QUENCH_SAMPLES:
                    rows = np.searchsorted(START_T, QUENCH_T)
                    quench_tap.append(np.where(sol.status[rows] == CONVERGED,
                                               sol.n_condensed[rows], -1))
                    halves = montecarlo.chain_averages(
                        xi, 1.0 / QUENCH_T, m0, n_sweeps=QUENCH_SWEEPS, n_chains=QUENCH_CHAINS,
                        rng=point_rng(ROOT_SEED, START_N, alpha, seed, "dynamics"))
                    overlaps = np.abs(halves.mean(axis=2) @ xi.T / START_N)
                    threshold = condensation_threshold(START_N, xi.shape[0])
                    quench_mc.append((overlaps > threshold).sum(axis=2).ravel())
            status = np.concatenate(statuses)
            tap_quench = np.concatenate(quench_tap)
            result[alpha, init] = {
                "shares": {STATUS_MEANINGS[code]: float(np.mean(status == code))
                           for code in np.unique(status)},
                "classes": _classes(np.concatenate(condensed)),
                "quench_tap": _classes(tap_quench[tap_quench >= 0]),
                "quench_tap_unconverged": int(np.sum(tap_quench < 0)),
                "quench_mc": _classes(np.concatenate(quench_mc)),
            }
    return result


def report_exit_check() -> dict:
    """Print the exit-check section; its summary entry is the fraction of solve time."""
    cost = exit_check_fraction()
    fraction = cost["check"] / cost["solve"]
    print(
        f"exit check (equation residual at the returned states) on the early-stop grid "
        f"({cost['points']} points, {cost['iterations']} iterations): {cost['check'] * 1e3:.1f} ms"
        f" of {cost['solve'] * 1e3:.0f} ms per solve = {fraction:.1%}"
    )
    return {"exit_check_fraction": fraction}


def report_random_starts() -> dict:
    """Print the random-start section; summary: converged share at alpha = 0.01 and
    the diverged share over all START_ALPHAS (both inits)."""
    result = random_starts()
    print(
        f"random starts, N={START_N}, T={START_T.tolist()}, {START_SAMPLES} samples, "
        f"max_iter={START_MAX_ITER}; classes of converged points (condensed patterns "
        f"none/one/several); Monte Carlo quenches ({QUENCH_CHAINS} chains x {QUENCH_SWEEPS} "
        f"sweeps) from the same starts at T={QUENCH_T.tolist()}, {QUENCH_SAMPLES} samples:"
    )
    for (alpha, init), r in result.items():
        shares = " ".join(f"{k}={v:.2f}" for k, v in r["shares"].items())
        print(f"  alpha={alpha} {init:>12}: {shares}; classes {r['classes']}; "
              f"quench TAP {r['quench_tap']} (+{r['quench_tap_unconverged']} unconverged) "
              f"vs MC chains {r['quench_mc']}")
    first = [r for (alpha, _), r in result.items() if alpha == START_ALPHAS[0]]
    return {
        "random_start_converged": min(r["shares"].get("converged", 0.0) for r in first),
        "random_start_diverged": max(r["shares"].get("diverged", 0.0) for r in result.values()),
    }


def report_speed(timing: dict) -> dict:
    """Print the speed section from :func:`speed`'s ``timing``; return its summary entries."""
    for d in ("float32", "float64"):
        print(f"GEMM peak, 1 core, {GEMM_N}^3 {d}: {timing[d]['peak']:6.1f} GFLOP/s")
    for d in ("float32", "float64"):
        t = timing[d]
        bound_gflops = 4.0 * STEP_N * round(STEP_ALPHA * STEP_N) / t["gemm_bound_seconds"] / 1e9
        print(
            f"TAP step N={STEP_N} alpha={STEP_ALPHA} K={STEP_K} {d}: {t['gflops']:6.1f} GFLOP/s"
            f" = {t['gflops'] / t['peak']:.0%} of {d} peak, "
            f"{t['step_seconds'] * 1e6:.1f} us per point-iteration; its two GEMMs alone "
            f"{t['gemm_bound_seconds'] * 1e6:.1f} us ({bound_gflops:.0f} GFLOP/s), so the step "
            f"runs at {t['gemm_bound_seconds'] / t['step_seconds']:.0%} of the GEMM-only bound"
        )
    loop = timing["loop_seconds"]
    print(
        f"plain numpy loop, one point at a time, float64: {loop * 1e6:.1f} us per "
        f"point-iteration (N={STEP_N}, alpha={STEP_ALPHA})"
    )
    for d in ("float32", "float64"):
        print(
            f"speed-up of batched {d} (K={STEP_K}) over the float64 loop, per "
            f"point-iteration: {loop / timing[d]['step_seconds']:.1f}x"
        )
    print(
        "(tap_fraction_of_peak: float32 batched step / float32 GEMM peak; speedup_vs_loop: "
        "float64 one-point loop / float32 batched, time per point-iteration)"
    )
    return {
        "tap_fraction_of_peak": timing["float32"]["gflops"] / timing["float32"]["peak"],
        "speedup_vs_loop": loop / timing["float32"]["step_seconds"],
    }


def report_early_stop() -> dict:
    """Print the early stop's effect on one grid (bench/early_stop.py runs seven); it
    adds nothing to the summary line."""
    early_stop.report(EARLY_STOP_GRID, early_stop.compare(EARLY_STOP_GRID))
    return {}


def report_bp_cost(gemm_flops: float) -> dict:
    """Relaxed BP against TAP per (point, iteration), from bench/bp_cost.py.

    The summary entry is the float64 ratio; the float32 one is printed as well,
    and so is the float64 FMA-pipe floor of the sweep's machine code over TAP, at
    ``gemm_flops`` (the float64 GEMM peak measured by :func:`speed`, flop/s).
    """
    # load the sibling by its path (bench/ is no package)
    spec = importlib.util.spec_from_file_location("bp_cost", _unshadow.HERE / "bp_cost.py")
    bp_cost = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bp_cost)
    ratios = {}
    for dtype in ("float64", "float32"):
        cost = bp_cost.bp_relaxed_over_tap(dtype=dtype)
        ratios[dtype] = cost["bp_relaxed_over_tap"]
        print(
            f"relaxed BP (bp_retrieval) {cost['bp_us']:.0f} us vs batched TAP {cost['tap_us']:.0f}"
            f" us per (point, iteration), both {dtype}: ratio {ratios[dtype]:.1f}"
            f" ({cost['bp_ns_per_edge']:.2f} ns per message and sweep)"
        )
        if dtype == "float64":
            floor = bp_cost.floor_over_tap(bp_cost.fma_pipe_floor(gemm_flops), cost)
    print(
        f"FMA-pipe floor of relaxed BP's compiled sweep (its multiplies and FMAs alone at the"
        f" square GEMM's rate): {floor:.1f}x TAP per (point, iteration), float64;"
        " python bench/bp_cost.py details it"
    )
    share = bp_cost.exit_check_share()
    print(
        f"exit checks of relaxed BP (equation residual, domain): {share['share']:.1%} of a"
        f" converging solve ({share['checks']} residuals, {share['iterations']} iterations,"
        f" K = {share['K']}, N = {share['N']})"
    )
    return {"bp_relaxed_over_tap": ratios["float64"], "bp_exit_check_share": share["share"]}


def main() -> dict:
    """Run every section (each prints its lines) and gather their summary entries."""
    results: dict = {}
    with threadpool_limits(limits=1):
        timing = speed()
        results |= report_speed(timing)
        results |= report_step_shapes()
        results |= report_early_stop()
        results |= report_exit_check()
        results |= report_random_starts()
        results |= report_bp_cost(gemm_flops=1e9 * timing["float64"]["peak"])
    return results


if __name__ == "__main__":
    summary = main()
    print(" ".join(f"{key}={value:.2f}" for key, value in summary.items()))
