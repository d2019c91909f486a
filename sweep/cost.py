"""The cost model of a sweep: estimated seconds of each disorder sample, and what is left.

The estimated time of one seed over all K temperatures is

    ``flops / NOMINAL_FLOPS[dtype] + iterations * ITERATION_OVERHEAD + SEED_OVERHEAD``

with ``flops = 4 N P K * iterations`` for the iterative solvers (two products with
xi per iteration, ``iterations = min(max_iter, EXPECTED_ITERATIONS)``), times the
algorithm's ``iteration_cost`` relative to TAP (:mod:`kernels.registry`: relaxed
BP, full BP by quadrature, multi-layer AMP), or the entry's ``loop_flops`` at
``LOOP_FLOPS`` (``2 N P K * sweeps * chains`` for Monte Carlo, ``2^N N P K`` for
exact enumeration). The model only has to be right within a factor of a few.

Each task costs the engine about ``TASK_OVERHEAD_SECONDS`` of CPU in the driver
(a Dask submission, one Zarr region write per variable, status last). On a
local cluster that CPU is taken from the workers' cores, so a sweep of ``C``
core-seconds in tasks of ``tau`` seconds on ``W`` workers loses about
``C c / (tau W)`` of wall time to it (on a batch cluster it bounds the task
rate one driver sustains). Longer tasks lose more at the end, where the last
tasks leave workers idle for about ``tau / 2``. The sum is smallest at
``tau = sqrt(2 C c / W)`` (:func:`task_seconds`), kept between
``MIN_TASK_SECONDS`` and ``MAX_TASK_SECONDS``. On 2 workers: 0.5 s up to 8
core-seconds, 1.3 s for a core-minute, 2 s for 133 core-seconds (about a minute
of the two workers' time), 5 s from 14 core-minutes on.

The plan sizes its tasks with it (:func:`sweep.plan.make_plan`), the progress
display and ``hopsweep status`` weigh the remaining work with it, calibrated
by the solver times measured so far (:func:`remaining_seconds`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kernels.patterns import n_patterns
from kernels.registry import ALGORITHMS
from kernels.status import PENDING

if TYPE_CHECKING:
    from .spec import Spec

#: Driver CPU per task, s: Dask's submission and bookkeeping (a few ms) and the
#: task's Zarr region writes, about 2 ms per variable for the 12 of a grid store
#: (zarr 3's per-chunk codec and I/O machinery; 26 ms measured per write_result
#: of bench/engine.py's tasks, 2026-12-08).
TASK_OVERHEAD_SECONDS = 0.03
#: Shortest task, s: below it the per-task overhead exceeds 6 % of the compute.
MIN_TASK_SECONDS = 0.5
#: Longest task, s: an interrupted run loses at most this much work per worker,
#: and the progress display hears from every worker at least this often.
MAX_TASK_SECONDS = 5.0
#: Iterations a solver is assumed to need (TAP: tens, more near transitions).
EXPECTED_ITERATIONS = 50
#: Nominal sustained rate of the batched products on one core, flop/s (measured
#: for TAP at N = 1000, K = 32, float64: about 7e9 under load, PERFORMANCE.md: ~3e10 peak).
NOMINAL_FLOPS = {"float64": 1e10, "float32": 2e10}
#: Fixed cost of one iteration (Python and elementwise work), s.
ITERATION_OVERHEAD = 2e-5
#: Fixed cost of one seed (patterns, initial state, labels), s.
SEED_OVERHEAD = 2e-3
#: Rate of the scalar loops of Monte Carlo and exact enumeration, flop/s.
LOOP_FLOPS = 1e9
#: Transition mode: solver iterations per point of a K-section (measured on
#: examples/transitions.toml: 2200-3100 per sample over its 25 points; alpha_c:
#: 640-1000 over 17 loads).
TRANSITION_ITERATIONS = 100
#: The K-section's rounds run K <= 8 columns per call: far below the nominal
#: rate of K = 32 batches. alpha_c solves one temperature per load: matrix-vector
#: products (memory bound) and one cast of the patterns per call. Calibrated on
#: examples/transitions.toml and examples/critical_load.toml: estimates 500 and
#: 730 core-seconds against 1221 and 729 measured under load average 8-10.
BATCH_SLOWDOWN = 4.0
MATVEC_SLOWDOWN = 7.5


def task_seconds(total_seconds: float, workers: int) -> float:
    """Length a task should have, s (module docstring).

    Parameters
    ----------
    total_seconds : float
        Estimated compute of the whole sweep on one core, s.
    workers : int
        Workers computing it at once.

    Returns
    -------
    float
        ``sqrt(2 total_seconds TASK_OVERHEAD_SECONDS / workers)``, clipped to
        [``MIN_TASK_SECONDS``, ``MAX_TASK_SECONDS``].
    """
    best = math.sqrt(2.0 * total_seconds * TASK_OVERHEAD_SECONDS / max(1, workers))
    return min(MAX_TASK_SECONDS, max(MIN_TASK_SECONDS, best))


def seed_cost(spec: Spec, algorithm: str, N: int, alpha: float) -> float:
    """Estimated seconds to run one seed over all temperatures (module docstring).

    The algorithm's registry entry says what its work is: scalar loops
    (``loop_flops``, Monte Carlo and enumeration) or iterations of batched
    products (``iteration_cost`` relative to TAP).
    """
    if spec.transition is not None:
        return _transition_cost(spec, algorithm, N, alpha)
    P, K = n_patterns(N, alpha), len(spec.T)
    options = spec.options
    entry = ALGORITHMS[algorithm]
    if entry.loop_flops is not None:
        seconds = entry.loop_flops(N, P, K, options) / LOOP_FLOPS
    else:
        iterations = min(options.max_iter, EXPECTED_ITERATIONS)
        flops = 4.0 * N * P * K * iterations * entry.iteration_cost
        seconds = flops / NOMINAL_FLOPS[options.dtype] + iterations * ITERATION_OVERHEAD
    return seconds + SEED_OVERHEAD


def remaining_seconds(elapsed: float, done, left, spent=None) -> float:
    """Time left if the work left goes at the rate of the work done so far.

    Parameters
    ----------
    elapsed : float
        Time spent on the work done, s (wall time, or core-seconds).
    done, left : float or array_like of shape (G,)
        Work done and work left per group (e.g. per algorithm), in one unit:
        estimated cost (s, cost model) or points.
    spent : array_like of shape (G,), optional
        Measured seconds of the work done, per group: calibrates the estimate of
        each group by ``spent / done`` (groups with nothing done yet take the
        overall ratio).

    Returns
    -------
    float
        ``elapsed * sum(left * c) / sum(done * c)``, in the unit of ``elapsed``,
        with ``c`` the calibration (1 without ``spent``); NaN while nothing is done.
    """
    done, left = np.atleast_1d(np.asarray(done, float)), np.atleast_1d(np.asarray(left, float))
    spent = done if spent is None else np.atleast_1d(np.asarray(spent, float))
    if done.sum() <= 0 or spent.sum() <= 0:
        return float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(done > 0, spent / done, spent.sum() / done.sum())
    return elapsed * float((left * scale).sum()) / float(spent.sum())


def search_points(spec: Spec) -> int:
    """Points a K-section of ``spec.transition`` solves: its rounds times K (at most)."""
    t = spec.transition
    width, rounds = (t.hi - t.lo) / (t.points - 1), 1
    while width > t.precision:
        width /= t.points + 1
        rounds += 1
    return rounds * t.points


def _transition_cost(spec: Spec, algorithm: str, N: int, line: float) -> float:
    """Estimated seconds of one sample's transition search (``line`` is its alpha or T)."""
    t = spec.transition
    critical = t.kind == "critical_load"
    P = n_patterns(N, t.hi if critical else line)
    flops = 4.0 * N * P * search_points(spec) * TRANSITION_ITERATIONS
    flops *= ALGORITHMS[algorithm].iteration_cost * (MATVEC_SLOWDOWN if critical
                                                     else BATCH_SLOWDOWN)
    return flops / NOMINAL_FLOPS[spec.options.dtype] + SEED_OVERHEAD


def seed_costs(spec: Spec) -> np.ndarray:
    """Estimated seconds of one seed over all temperatures, per (algorithm, N, alpha).

    Returns
    -------
    ndarray of shape (algorithm, N, alpha), float
        :func:`seed_cost` of every (algorithm, N, alpha) of the grid.
    """
    return np.array([[[seed_cost(spec, algorithm, N, line) for line in spec.lines]
                      for N in spec.N] for algorithm in spec.algorithm])


def core_seconds_left(status: np.ndarray, wall: np.ndarray, spec: Spec) -> float | None:
    """Compute time the pending points of a sweep still need, core-seconds.

    The cost model (:func:`seed_cost`) of the pending points,
    calibrated per algorithm by the wall times of the points computed so far
    (:func:`remaining_seconds`). Runs do the most expensive points first, so the
    mean time of a point done so far overstates the rest.

    Parameters
    ----------
    status : ndarray of shape (algorithm, N, alpha, seed, T), int8
        Store status codes.
    wall : ndarray of that shape, float
        Wall time of each point, s (NaN where not measured).
    spec : Spec
        The sweep's spec.

    Returns
    -------
    float or None
        Core-seconds; None while no point has a wall time.
    """
    measured = np.isfinite(wall) & (status != PENDING)
    if not measured.any():
        return None
    # cost model per point, (algorithm, N, alpha, 1, 1): a seed's cost shared among its T
    # (a transition store has one point per seed and no T axis)
    extra = (1,) * (status.ndim - 3)
    costs = seed_costs(spec).reshape(*status.shape[:3], *extra) / spec.points_per_seed
    per_algorithm = tuple(range(1, status.ndim))
    spent = np.where(measured, wall, 0.0).sum(axis=per_algorithm)
    return remaining_seconds(float(spent.sum()), (costs * measured).sum(axis=per_algorithm),
                             (costs * (status == PENDING)).sum(axis=per_algorithm), spent)
