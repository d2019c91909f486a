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

A last section reads the machine code of the two vectorised loops of the sweep
(compiled afresh, float64, so that numba can show it) and counts the
instructions that only the FMA/multiply pipes execute (multiplies and fused
multiply-adds). At the rate at which the square float64 GEMM issues them (its
GFLOP/s over 2 flops and the vector width), those instructions alone take a
time per message that no scheduling can beat: the *FMA-pipe floor* of this
code, printed beside TAP's measured cost per (pattern, neuron) pair.

Run ``python bench/bp_cost.py`` for the tables.
"""

from __future__ import annotations

import re
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


#: Retrieval temperatures of the exit-check benchmark (alpha = 0.1): relaxed BP
#: told pattern 0 converges there in 50-60 iterations at N = 2000.
EXIT_T_RANGE = (0.1, 0.3)


def exit_check_share(
    N: int = 2000, alpha: float = 0.1, K: int = 8, repeats: int = 3, seed: int = 0
) -> dict:
    """Share of converging relaxed-BP solves spent in their exit checks.

    ``bp.solve(..., retrieved=0)`` at K temperatures on EXIT_T_RANGE, default tol
    and damping, from pattern 0, with the two exit checks timed from inside: the
    equation residual (an undamped sweep: every call of ``_Messages.sweep`` with
    damping 0 but the first of each temperature, the consistent start) and the
    domain classification (``bp._relaxed_domain``). The fastest of ``repeats``
    solves is kept.

    Returns
    -------
    dict
        ``share``: check time over solve time; ``check_ms``, ``solve_ms``;
        ``checks``: residual evaluations per solve; ``iterations``: total
        iterations per solve; ``N``, ``P``, ``K``.
    """
    P = round(alpha * N)
    xi = np.random.default_rng(seed).choice([-1.0, 1.0], size=(P, N))
    beta = 1.0 / np.linspace(*EXIT_T_RANGE, K)
    originals = {"sweep": bp._Messages.sweep, "domain": bp._relaxed_domain}
    spent = {"seconds": 0.0, "checks": 0}

    def sweep(self, t, beta_H, damping, H_new):
        start = time.perf_counter()
        done = originals["sweep"](self, t, beta_H, damping, H_new)
        if damping == 0.0 and getattr(self, "started", False):
            spent["seconds"] += time.perf_counter() - start
            spent["checks"] += 1
        self.started = True
        return done

    def domain(*args):
        start = time.perf_counter()
        inside = originals["domain"](*args)
        spent["seconds"] += time.perf_counter() - start
        return inside

    best = None
    try:
        bp._Messages.sweep, bp._relaxed_domain = sweep, domain
        with threadpool_limits(limits=1):
            bp.solve(xi[:, :64], beta[:1], xi[0, :64], retrieved=0, max_iter=2)  # warm-up
            for _ in range(repeats):
                spent.update(seconds=0.0, checks=0)
                start = time.perf_counter()
                solution = bp.solve(xi, beta, xi[0], retrieved=0)
                total = time.perf_counter() - start
                if best is None or total < best["solve_ms"] / 1e3:
                    best = {
                        "solve_ms": 1e3 * total,
                        "check_ms": 1e3 * spent["seconds"],
                        "checks": spent["checks"],
                        "iterations": int(np.sum(solution.iterations)),
                    }
    finally:
        bp._Messages.sweep, bp._relaxed_domain = originals["sweep"], originals["domain"]
    return best | {"share": best["check_ms"] / best["solve_ms"], "N": N, "P": P, "K": K}


@numba.njit(cache=True, error_model="numpy")
def _pass_one(xi, beta, t, u, xm_cav, w_cav):
    """Pass 1 of the relaxed sweep alone: cavity quantities of every row."""
    total = 0.0
    for mu in range(xi.shape[0]):
        A, V, _ = bp._sweep_row_vector(xi[mu], beta, t, u[mu], xm_cav, w_cav)
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


#: Packed (vector) multiplies and fused multiply-adds: the instructions that only
#: the FMA/multiply pipes execute (x86 mnemonics, AT&T syntax as numba prints it).
_FMA_PIPE = re.compile(r"^v(f(n)?m(add|sub)\d{3}|mul)p[sd]$")
_VECTOR_BYTES = {"xmm": 16, "ymm": 32, "zmm": 64}


def _loops(asm: str) -> list[list[list[str]]]:
    """Bodies of the loops of an assembly listing: the instructions between a label
    and a later jump back to it, each as [mnemonic, operands]."""
    lines = asm.splitlines()
    labels: dict[str, int] = {}
    loops = []
    for k, line in enumerate(lines):
        if label := re.match(r"^(\.\w+):", line):
            labels[label[1]] = k
        elif (jump := re.match(r"\s+j\w+\s+(\.\w+)$", line)) and jump[1] in labels:
            body = (text.split(None, 1) for text in lines[labels[jump[1]] + 1 : k + 1])
            loops.append([x for x in body if x and not x[0].startswith((".", "#"))])
    return loops


def _loop_profile(body: list[list[str]]) -> dict:
    """Messages per pass of a loop (its index step), its FMA-pipe instructions,
    divisions, calls, and the float64 lanes of its widest vector register."""
    mnemonics = [x[0] for x in body]
    steps = [int(x[1].split(",")[0][1:]) for x in body if x[0] == "addq" and x[1][0] == "$"]
    registers = {r for x in body[:-1] if len(x) > 1 for r in re.findall(r"[xyz]mm", x[1])}
    return {
        "messages": steps[-1] if steps else 1,
        "fma_pipe": sum(bool(_FMA_PIPE.match(m)) for m in mnemonics),
        "divisions": sum(m.startswith("vdivp") for m in mnemonics),
        "calls": "callq" in mnemonics,
        "lanes": max((_VECTOR_BYTES[r] // 8 for r in registers), default=1),
    }


def _fresh_asm(dispatcher, *args) -> str:
    """Machine code of a kernel compiled in this process with the flags of
    :mod:`kernels.bp` (numba cannot show code loaded from its cache)."""
    flags = dispatcher.targetoptions.get("fastmath", False)
    fresh = numba.njit(error_model="numpy", fastmath=flags)(dispatcher.py_func)
    fresh(*args)
    return fresh.inspect_asm(fresh.signatures[0])


def _square_gemm_flops(n: int = 2000, repeats: int = 5) -> float:
    """Best float64 GFLOP/s of an n x n matmul on one BLAS thread, in flop/s."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    with threadpool_limits(limits=1):
        best = min(_seconds_of(lambda: a @ b) for _ in range(repeats))
    return 2.0 * n**3 / best


def fma_pipe_floor(gemm_flops: float | None = None) -> dict:
    """Floor set by the FMA/multiply pipes on one relaxed sweep, float64.

    Pass 1 is the vectorised loop of ``_sweep_row_vector`` (the one with divisions),
    pass 2 the vectorised message update of ``_relaxed_sweep`` (the series
    branch: no division, no call). Each counts multiply and FMA *lane* operations
    per message (instructions x float64 lanes / messages per pass of the loop),
    which compares loops of any vector width. A square GEMM issues such
    operations at gemm_flops / 2 per second on one core, so the floor
    (lane operations per message) / (gemm_flops / 2) is the time per message of
    this code with every FMA/multiply pipe busy on every cycle, ignoring its
    divisions, additions, loads and stores.

    Parameters
    ----------
    gemm_flops : float, optional
        Square float64 GEMM rate on one core, in flop/s; measured if None.

    Returns
    -------
    dict
        ``pass_1``, ``pass_2``: loop profiles (see ``_loop_profile``) with
        ``lane_ops`` per message; ``lane_ops``: their sum; ``gemm_flops``;
        ``floor_ns``: the floor in ns per message.
    """
    xi, row = np.ones((2, 64)), np.zeros(64)
    # the row kernel of long rows (N >= VECTOR_SUM_MIN_N), as in the timed sweep
    sweep_loops = _loops(
        _fresh_asm(bp._sweep_row_vector, xi[0], 2.0, row, row, row.copy(), row.copy())
    )
    update_loops = _loops(
        _fresh_asm(
            bp._relaxed_sweep,
            xi,
            1.0,
            2.0,
            row,
            row,
            np.zeros((2, 64)),
            0.5,
            row.copy(),
            row.copy(),
            row.copy(),
        )
    )
    profiles = {
        "pass_1": max(
            (p for p in map(_loop_profile, sweep_loops) if p["divisions"]),
            key=lambda p: p["fma_pipe"],
        ),
        "pass_2": max(
            (p for p in map(_loop_profile, update_loops) if not p["divisions"] and not p["calls"]),
            key=lambda p: p["fma_pipe"],
        ),
    }
    for profile in profiles.values():
        profile["lane_ops"] = profile["fma_pipe"] * profile["lanes"] / profile["messages"]
    gemm_flops = _square_gemm_flops() if gemm_flops is None else gemm_flops
    lane_ops = sum(profile["lane_ops"] for profile in profiles.values())
    return profiles | {
        "lane_ops": lane_ops,
        "gemm_flops": gemm_flops,
        "floor_ns": 1e9 * lane_ops / (gemm_flops / 2.0),
    }


def floor_over_tap(floor: dict, cost: dict) -> float:
    """The FMA-pipe floor of one sweep over TAP's measured cost, per (point,
    iteration): ``floor`` from :func:`fma_pipe_floor`, ``cost`` from
    :func:`bp_relaxed_over_tap` (float64; the sweep has P - 1 rows with retrieved=0)."""
    return floor["floor_ns"] * (cost["P"] - 1) * cost["N"] / (1e3 * cost["tap_us"])


def main() -> None:
    costs = {dtype: bp_relaxed_over_tap(dtype=dtype) for dtype in ("float64", "float32")}
    for dtype, result in costs.items():
        print(f"N = {result['N']}, P = {result['P']}, K = {result['K']}, {dtype}, 1 thread")
        print(f"{'solver':<28}{'us / (point, iteration)':>26}{'point-iterations':>20}")
        print(
            f"{'TAP (batched over K)':<28}{result['tap_us']:>26.1f}{result['tap_iterations']:>20d}"
        )
        print(f"{'relaxed BP (per T)':<28}{result['bp_us']:>26.1f}{result['bp_iterations']:>20d}")
        print(f"relaxed BP per message and sweep: {result['bp_ns_per_edge']:.2f} ns")
        print(f"bp_relaxed_over_tap ({dtype}) = {result['bp_relaxed_over_tap']:.2f}")
    share = exit_check_share()
    print(
        f"exit checks of relaxed BP (equation residual, domain): {share['check_ms']:.1f} ms of a"
        f" {share['solve_ms']:.0f} ms solve = {share['share']:.1%} ({share['checks']} residuals,"
        f" {share['iterations']} iterations, K = {share['K']}, N = {share['N']})"
    )
    print("one relaxed sweep, float64, N = 2000, P = 200, ns per message:")
    for name, ns in sweep_floors().items():
        print(f"  {name:<18}{ns:6.2f}")
    floor = fma_pipe_floor()
    print("multiply and FMA instructions of the compiled sweep's vectorised loops (float64):")
    for name in ("pass_1", "pass_2"):
        p = floor[name]
        print(
            f"  {name.replace('_', ' ')}: {p['fma_pipe']} of {p['lanes']} lanes per"
            f" {p['messages']} messages ({p['divisions']} divisions)"
            f" = {p['lane_ops']:.2f} lane operations per message"
        )
    print(
        f"FMA-pipe floor: {floor['lane_ops']:.2f} lane operations per message at the square"
        f" GEMM's rate ({floor['gemm_flops'] / 1e9:.1f} GFLOP/s, float64) ="
        f" {floor['floor_ns']:.2f} ns per message = {floor_over_tap(floor, costs['float64']):.1f}x"
        " TAP per (point, iteration), float64"
    )


if __name__ == "__main__":
    main()
