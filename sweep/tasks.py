"""What a worker runs for one task: a block of disorder samples over all temperatures.

For each seed: patterns from the point's ``patterns`` stream, the initial state
from its ``init`` stream, the solver from kernels.registry with its ``dynamics``
stream; then the labels the store keeps. Results are small numpy arrays (per-site
magnetizations only with ``[output] sites = true``), never Solution objects.
In transition mode a seed is one K-section (:mod:`kernels.transition`) and its
result one value per variable of the transition layout.

Fault injection (for tests of the failure path, and for trying it by hand): when
the environment variable ``HOPSWEEP_FAULT`` holds comma-separated ``key=value``
pairs over ``algorithm``, ``N``, ``alpha`` (``T`` for critical_load), ``seed``
(e.g. ``alpha=0.05`` or ``algorithm=tap,N=100``), a task whose point matches every pair raises
:class:`InjectedFault` instead of computing. Unset (the default), it does nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

# Workers run one task per core: one Numba thread (set before Numba is imported).
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from kernels import patterns as kp  # noqa: E402
from kernels import transition as kt  # noqa: E402
from kernels.initial import initial_state  # noqa: E402
from kernels.registry import ALGORITHMS  # noqa: E402
from kernels.status import CONVERGED  # noqa: E402

from .plan import Task  # noqa: E402
from .spec import Spec  # noqa: E402

#: The alpha key of the random streams of a critical_load sample: its patterns
#: are nested (one matrix for every load), so they depend on (root_seed, N,
#: seed) only. No grid point has alpha = 0 (loads are > 0), so no grid sample
#: shares this disorder.
NESTED_ALPHA_KEY = 0.0

#: Environment variable of the fault injection (module docstring).
FAULT_VARIABLE = "HOPSWEEP_FAULT"


class InjectedFault(RuntimeError):
    """Raised by a task selected by ``HOPSWEEP_FAULT``."""


def build_patterns(spec: Spec, N: int, alpha: float, seed: int) -> kp.Patterns:
    """Patterns of one point: a function of (root_seed, pattern model, N, alpha, seed) only."""
    rng = kp.point_rng(spec.root_seed, N, alpha, seed, "patterns")
    return kp.make(spec.patterns_kind, N, alpha, rng, **dict(spec.patterns_params))


def _fault(point: Mapping[str, object], seeds: list[int]) -> None:
    """Raise InjectedFault when ``HOPSWEEP_FAULT`` selects this point (module docstring)."""
    text = os.environ.get(FAULT_VARIABLE, "").strip()
    if not text:
        return
    for pair in text.split(","):
        key, _, value = pair.partition("=")
        key = key.strip()
        if key == "seed":
            if int(value) not in seeds:
                return
        elif key == "algorithm":
            if value.strip() != point["algorithm"]:
                return
        elif key in ("N", "alpha", "T"):
            if key not in point or not np.isclose(float(value), float(point[key])):
                return
        else:
            raise ValueError(f"{FAULT_VARIABLE}: unknown key {key!r} (use algorithm, N, "
                             "alpha, T, seed)")
    raise InjectedFault(f"fault injected by {FAULT_VARIABLE}={text}")


def run_seed(spec: Spec, algorithm: str, N: int, alpha: float, seed: int) -> dict[str, np.ndarray]:
    """Solve one disorder sample over all temperatures and label the result.

    Returns
    -------
    dict of str to ndarray
        ``m, m_other, q, free_energy, residual, wall_time`` (float64),
        ``iterations``, ``n_condensed``, ``best_pattern`` (int32), ``converged``
        (bool), ``status`` (int8), each of
        shape (K,); ``magnetization`` (K, N) when ``spec.sites``.
    """
    start = time.perf_counter()
    patterns = build_patterns(spec, N, alpha, seed)
    m0 = initial_state(patterns.xi, spec.init, kp.point_rng(spec.root_seed, N, alpha, seed,
                                                            "init"))
    beta = 1.0 / np.asarray(spec.T, dtype=np.float64)
    solution = ALGORITHMS[algorithm].run(patterns, beta, m0, spec.options,
                                         kp.point_rng(spec.root_seed, N, alpha, seed,
                                                      "dynamics"))
    overlap = np.asarray(solution.overlap, dtype=np.float64)
    K = beta.size
    other = np.abs(overlap[:, 1:]).max(axis=1) if overlap.shape[1] > 1 else np.full(K, np.nan)
    status = np.asarray(solution.status, dtype=np.int8)
    result = {
        "m": overlap[:, 0],
        "m_other": other,
        "q": np.asarray(solution.q, dtype=np.float64),
        "free_energy": np.asarray(solution.free_energy, dtype=np.float64),
        "iterations": np.asarray(solution.iterations, dtype=np.int32),
        "residual": np.asarray(solution.residual, dtype=np.float64),
        "converged": status == CONVERGED,
        "n_condensed": np.asarray(solution.n_condensed, dtype=np.int32),
        "best_pattern": np.asarray(solution.best_pattern, dtype=np.int32),
        "status": status,
    }
    if spec.sites:
        result["magnetization"] = np.asarray(solution.m)
    result["wall_time"] = np.full(K, (time.perf_counter() - start) / K)
    return result


def nested_patterns(spec: Spec, N: int, seed: int) -> kp.Patterns:
    """The patterns of a critical_load sample: round(alpha_hi N) rows, nested (load alpha
    uses the first round(alpha N)), from the streams of (root_seed, N, seed) alone."""
    rng = kp.point_rng(spec.root_seed, N, NESTED_ALPHA_KEY, seed, "patterns")
    return kp.make(spec.patterns_kind, N, spec.transition.hi, rng, **dict(spec.patterns_params))


def run_transition_seed(spec: Spec, algorithm: str, N: int, line: float,
                        seed: int) -> dict[str, np.ndarray]:
    """Locate the transition of one sample (``line``: its alpha, or its T for critical_load).

    Returns
    -------
    dict of str to ndarray
        The variables of :func:`sweep.schema.transition_layout`, each 0-d.
    """
    from .schema import TRANSITION_VARIABLES

    start = time.perf_counter()
    t = spec.transition
    search = {"precision": t.precision, "algorithm": algorithm, "options": spec.options,
              "points": t.points}
    if t.kind == "retrieval_temperature":
        rng = kp.point_rng(spec.root_seed, N, line, seed, "dynamics")
        found = kt.retrieval_temperature(build_patterns(spec, N, line, seed), t.lo, t.hi,
                                         rng=rng, **search)
    else:
        rng = kp.point_rng(spec.root_seed, N, NESTED_ALPHA_KEY, seed, "dynamics")
        found = kt.critical_load(nested_patterns(spec, N, seed), line, t.lo, t.hi, rng=rng,
                                 **search)
    name = TRANSITION_VARIABLES[t.kind][0]
    return {name: np.float64(found.estimate), "lo": np.float64(found.lo),
            "hi": np.float64(found.hi), "evaluations": np.int32(found.evaluations),
            "iterations": np.int64(found.iterations),
            "wall_time": np.float64(time.perf_counter() - start),
            "status": np.int8(found.status)}


def seed_solver(spec: Spec) -> Callable[..., dict[str, np.ndarray]]:
    """The function that computes one seed of ``spec``: :func:`run_seed` for a grid,
    :func:`run_transition_seed` in transition mode (same arguments)."""
    return run_seed if spec.transition is None else run_transition_seed


def run_task(spec: Spec, task: Task, seeds: np.ndarray) -> dict[str, np.ndarray]:
    """Run the selected seeds of one task in this process, with one BLAS thread.

    Parameters
    ----------
    spec : Spec
    task : Task
        From :meth:`sweep.plan.Plan.task`.
    seeds : ndarray of shape (task.s1 - task.s0,), bool
        Which seeds of the block to compute.

    Returns
    -------
    dict of str to ndarray
        Every array of :func:`run_seed` stacked over the selected seeds: shape
        (n_selected, K) (``magnetization``: (n_selected, K, N)).
    """
    from threadpoolctl import threadpool_limits

    algorithm, N, line = spec.algorithm[task.a], spec.N[task.n], spec.lines[task.k]
    chosen = [spec.seed[task.s0 + j] for j in np.flatnonzero(seeds)]
    _fault({"algorithm": algorithm, "N": N, spec.line_dim: line}, chosen)
    run = seed_solver(spec)
    with threadpool_limits(limits=1):
        rows = [run(spec, algorithm, N, line, seed) for seed in chosen]
    return {name: np.stack([row[name] for row in rows]) for name in rows[0]}
