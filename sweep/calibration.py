"""A pilot run that calibrates the cost model before a sweep starts.

The cost model (:mod:`sweep.cost`) knows the flops of one iteration but not how
many iterations a point will take: a grid where most points converge in twenty
iterations and one where most run to ``max_iter`` differ a hundredfold. The
pilot measures it. For every (algorithm, N) it solves the first seed at a few
values spread over the task axis (the loads; the temperatures of a
critical_load search), in this process on one core, exactly as a worker would
(:func:`sweep.tasks.run_seed`, :func:`sweep.tasks.run_transition_seed`), and
interpolates the measured seconds per seed linearly along that axis. Every seed
is then charged the pilot's time at its value.

The pilot's own cost is bounded: its samples are chosen with the cost model so
that they take about ``PILOT_SHARE`` of the whole sweep, at least
``PILOT_MIN_SECONDS`` and at most ``PILOT_MAX_SECONDS`` (split evenly over the
(algorithm, N) groups); a group of which even one sample would exceed its share
takes the model's estimate scaled by the measured-over-model ratio of the
groups the pilot did measure (of the same algorithm if any, else of all).
Each worker process also pays once per algorithm for loading its compiled
kernels (Numba's cache, or compiling them): the pilot's first solve of an
algorithm is a warm-up, not a sample, and what it took beyond the same solve
warm is charged once per worker (``[cluster] workers``). Nothing is written:
the pilot's results are thrown away, only their times are kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .cost import seed_costs
from .tasks import run_seed, run_transition_seed

if TYPE_CHECKING:
    from .spec import Spec

#: Share of the sweep's estimated compute that the pilot may spend.
PILOT_SHARE = 0.05
#: Bounds of the pilot's budget, s.
PILOT_MIN_SECONDS = 5.0
PILOT_MAX_SECONDS = 30.0


@dataclass(frozen=True)
class Calibration:
    """Measured cost of a sweep's seeds.

    Attributes
    ----------
    seed_seconds : ndarray of shape (algorithm, N, line), float
        Estimated seconds of one seed over all temperatures: the pilot's
        interpolated measurements, or the cost model where no sample was run.
    measured : ndarray of shape (algorithm, N), bool
        Groups the pilot measured.
    samples : int
        Seeds the pilot solved (warm-ups not counted).
    pilot_seconds : float
        Wall time of the pilot, warm-ups included, s.
    n_seeds : int
        Seeds of the grid.
    startup_seconds : float
        Kernel start-up of the workers: each algorithm's warm-up excess, once
        per worker, s.
    """

    seed_seconds: np.ndarray
    measured: np.ndarray
    samples: int
    pilot_seconds: float
    n_seeds: int
    startup_seconds: float

    @property
    def total_seconds(self) -> float:
        """Estimated compute of the whole sweep on one core, start-up included, s."""
        return float(self.seed_seconds.sum() * self.n_seeds) + self.startup_seconds


def _sample_indices(costs: np.ndarray, budget: float) -> np.ndarray:
    """The most indices along the task axis, evenly spread, whose model costs fit in ``budget``.

    Parameters
    ----------
    costs : ndarray of shape (line,)
        Model seconds of one seed at each value of the task axis.
    budget : float
        Seconds available.

    Returns
    -------
    ndarray of int
        Sorted indices, both ends of the axis among them when two or more fit;
        the middle index alone when only one fits; empty when it does not.
    """
    L = costs.size
    for n in range(L, 1, -1):
        chosen = np.unique(np.round(np.linspace(0, L - 1, n)).astype(int))
        if costs[chosen].sum() <= budget:
            return chosen
    middle = np.array([L // 2])  # one sample: the middle of the axis, not its cheap end
    if costs[middle].sum() <= budget:
        return middle
    return np.array([], dtype=int)


def calibrate(spec: Spec) -> Calibration:
    """Run the pilot of a grid sweep (module docstring) and return its calibration.

    Parameters
    ----------
    spec : Spec

    Returns
    -------
    Calibration
    """
    from threadpoolctl import threadpool_limits

    model = seed_costs(spec)
    n_seeds = len(spec.seed)
    budget = float(np.clip(PILOT_SHARE * model.sum() * n_seeds, PILOT_MIN_SECONDS,
                           PILOT_MAX_SECONDS))
    seed_seconds = model.copy()
    measured = np.zeros(model.shape[:2], dtype=bool)
    samples, startup = 0, 0.0
    start = time.perf_counter()
    group_budget = budget / (model.shape[0] * model.shape[1])
    with threadpool_limits(limits=1):  # as on a worker: one BLAS thread
        for a in range(len(spec.algorithm)):
            solved, warm_up = _measure(spec, a, model, group_budget, seed_seconds, measured)
            samples += solved
            startup += warm_up
    _scale_unmeasured(model, seed_seconds, measured)
    return Calibration(seed_seconds, measured, samples, time.perf_counter() - start, n_seeds,
                       spec.cluster.workers * startup)


def _scale_unmeasured(model: np.ndarray, seed_seconds: np.ndarray, measured: np.ndarray) -> None:
    """Scale the model of the groups the pilot could not afford by the measured-over-
    model ratio of the measured groups (same algorithm first), in place."""
    if not measured.any() or measured.all():
        return
    ratio = seed_seconds[measured].sum() / model[measured].sum()
    for a in range(model.shape[0]):
        mine = measured[a]
        own = seed_seconds[a][mine].sum() / model[a][mine].sum() if mine.any() else ratio
        seed_seconds[a][~mine] = model[a][~mine] * own


def _measure(spec: Spec, a: int, model: np.ndarray, group_budget: float,
             seed_seconds: np.ndarray, measured: np.ndarray) -> tuple[int, float]:
    """Pilot of one algorithm over every N: fills ``seed_seconds[a]`` and
    ``measured[a]`` where a sample fits the group budget; returns the samples run
    and the warm-up's excess over the same solve warm, s."""
    algorithm, lines, first_seed = spec.algorithm[a], np.asarray(spec.lines, float), spec.seed[0]
    solve = run_seed if spec.transition is None else run_transition_seed
    samples = 0
    warm_up = None
    for n, N in enumerate(spec.N):
        chosen = _sample_indices(model[a, n], group_budget)
        if chosen.size == 0:
            continue
        if warm_up is None:  # Numba compilation or cache loading is not part of a seed's cost
            warm_up = float(np.sum(solve(spec, algorithm, N, lines[chosen[0]], first_seed)
                                   ["wall_time"]))
        seconds = [float(np.sum(solve(spec, algorithm, N, lines[k], first_seed)["wall_time"]))
                   for k in chosen]
        if samples == 0:
            warm_up = max(0.0, warm_up - seconds[0])
        seed_seconds[a, n] = np.interp(lines, lines[chosen], seconds)
        measured[a, n] = True
        samples += chosen.size
    return samples, warm_up or 0.0
