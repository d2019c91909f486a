"""A pilot run that calibrates the cost model before a sweep starts.

The cost model (:mod:`sweep.cost`) knows the flops of one iteration but not how
many iterations a point will take: a grid where most points converge in twenty
iterations and one where most run to ``max_iter`` differ a hundredfold. The
pilot measures it. For every (algorithm, N) it solves a seed at each of a few
values spread over the task axis (the loads; the temperatures of a
critical_load search), in this process on one core, exactly as a worker would
(:func:`sweep.tasks.run_seed`, :func:`sweep.tasks.run_transition_seed`), and
interpolates the ratio of the measured seconds per seed to the model's linearly
along that axis. Every seed is then charged the model's time at its value
times that ratio.

The pilot's own cost is bounded: it takes about ``PILOT_SHARE`` of the whole
sweep, at least ``PILOT_MIN_SECONDS`` and at most ``PILOT_MAX_SECONDS``, split
over the (algorithm, N) groups in proportion to their predicted cost (each
gets at least ``FLOOR_OF_EVEN_SHARE`` of an even split): the group that
dominates the sweep dominates its error, so it gets the samples. They are
measured each algorithm's cheapest N first, then each one's next, and so on;
before each group, every group not yet measured is predicted by the cost
model scaled by the measured-over-model time of its algorithm's groups
measured so far, the budget follows that prediction of the sweep, and the
group takes the samples whose predicted cost fits its share, or else one
sample at the middle of the task axis if that costs at most
``ONE_SAMPLE_SHARE`` of the sweep. A group's samples take its seeds in turn
(the first sample the first seed, the next the second, ...): one seed's
iteration count is not the mean's (at N = 8000 in the transitions example
the first seed ran 0.81x the mean of twelve), and the interpolation along
the axis averages the samples' deviations; a group whose every value fits
its share solves further rounds of seeds while its measured time leaves room
(:func:`_measure`). So
the model's absolute scale, which can be off tenfold, never decides alone: the
cheap groups fix it, and the expensive group that dominates the sweep (the
largest N) is measured too whenever one sample of it is affordable (the
critical-load example's N = 8000 was extrapolated from N = 1000-2000 at a
quarter of its real cost). A group of which even one sample would cost more
keeps that scaled prediction (an algorithm never measured: the model
scaled by the measured-over-model time of all the groups measured).
A sweep's local workers run side by side and slow each other down through the
caches and memory bandwidth they share (1.2-1.3x per seed here with two, more
where the patterns outgrow L3). So on a local cluster of W > 1 workers the
pilot runs with W - 1 shadow processes (:class:`_Shadows`) that solve each
sample at the same time as the measured one, as the other workers will. Other
clusters run elsewhere, and their pilot runs alone.

Each worker process also pays once per algorithm for loading its compiled
kernels (Numba's cache, or compiling them): the pilot's first solve of an
algorithm is a warm-up, not a sample, and what it took beyond the same solve
warm is charged once per worker (``[cluster] workers``). Nothing is written:
the pilot's results are thrown away, only their times are kept.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .cost import seed_costs
from .tasks import seed_solver

if TYPE_CHECKING:
    from .spec import Spec

#: Share of the sweep's estimated compute that the pilot may spend.
PILOT_SHARE = 0.1
#: Bounds of the pilot's budget, s.
PILOT_MIN_SECONDS = 5.0
PILOT_MAX_SECONDS = 30.0
#: The least share of the budget a group gets, as a fraction of an even split
#: (the cheap groups measured first fix the model's scale for the others).
FLOOR_OF_EVEN_SHARE = 0.25
#: A group whose samples do not fit its share still gets one, at the middle of
#: the task axis, if it costs at most this share of the sweep (and the pilot
#: stays within PILOT_MAX_SECONDS).
ONE_SAMPLE_SHARE = 0.1
#: How often (s) the pilot checks that its shadow processes are alive while it
#: waits for them, and how long it waits for one to exit.
SHADOW_POLL_SECONDS = 1.0


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
    seed_seconds = model.copy()
    measured = np.zeros(model.shape[:2], dtype=bool)
    # each algorithm's cheapest N first, then each one's next: every measurement
    # corrects the model's scale for the same algorithm's larger N
    rank = np.argsort(np.argsort(model.sum(axis=-1), axis=1), axis=1)
    groups = sorted(np.ndindex(*model.shape[:2]),
                    key=lambda group: (rank[group], model[group].sum()))
    L = len(spec.lines)
    middle = L // 2  # the one sample a group gets when its share fits none
    warm_ups: dict[int, float] = {}
    samples = 0
    start = time.perf_counter()
    # as on a worker: one BLAS thread, and the other workers busy beside it
    with threadpool_limits(limits=1), _shadows(spec) as shadows:
        for a, n in groups:
            _rescale_unmeasured(model, seed_seconds, measured, across=False)
            group_seconds = seed_seconds[a, n].sum() * n_seeds  # as predicted now
            sweep_seconds = seed_seconds.sum() * n_seeds
            budget = np.clip(PILOT_SHARE * sweep_seconds, PILOT_MIN_SECONDS, PILOT_MAX_SECONDS)
            share = budget * max(group_seconds / sweep_seconds, FLOOR_OF_EVEN_SHARE / len(groups))
            elapsed = time.perf_counter() - start
            chosen = _sample_indices(seed_seconds[a, n], share)
            one = seed_seconds[a, n, middle]
            if (chosen.size == 0 and one <= ONE_SAMPLE_SHARE * sweep_seconds
                    and elapsed + one <= PILOT_MAX_SECONDS):
                chosen = np.array([middle])  # one sample beats the model
            if chosen.size:
                # a group whose every value fits may take more seeds per value
                extra = min(share, PILOT_MAX_SECONDS - elapsed) if chosen.size == L else 0.0
                samples += _measure(spec, a, n, chosen, extra, model, seed_seconds, warm_ups,
                                    shadows)
                measured[a, n] = True
    _rescale_unmeasured(model, seed_seconds, measured, across=True)
    return Calibration(seed_seconds, measured, samples, time.perf_counter() - start, n_seeds,
                       spec.cluster.workers * sum(warm_ups.values()))


def _rescale_unmeasured(model: np.ndarray, seed_seconds: np.ndarray, measured: np.ndarray,
                        across: bool) -> None:
    """Set the unmeasured groups of ``seed_seconds`` to the model scaled by the
    measured-over-model time of the same algorithm's measured groups, in place.
    An algorithm with none keeps the model, or with ``across`` takes the ratio
    of all measured groups (algorithms differ: naive mean field ran 20x its
    model where TAP ran 2.6x)."""
    if not measured.any():
        return
    overall = seed_seconds[measured].sum() / model[measured].sum()
    for a in range(model.shape[0]):
        mine = measured[a]
        if mine.any():
            ratio = seed_seconds[a][mine].sum() / model[a][mine].sum()
        else:
            ratio = overall if across else 1.0
        seed_seconds[a][~mine] = model[a][~mine] * ratio


def _measure(spec: Spec, a: int, n: int, chosen: np.ndarray, extra: float, model: np.ndarray,
             seed_seconds: np.ndarray, warm_ups: dict[int, float], shadows: _Shadows) -> int:
    """Solve group (algorithm a, N index n) at the ``chosen`` values of the task
    axis, set ``seed_seconds[a, n]`` from the times, and return the samples solved.

    A round solves one seed at each chosen value, the j-th value with the grid's
    j-th seed (cycling). After the first, further rounds (round r takes each
    value's seed r places on, so no pair repeats) run while the measured time of
    the rounds so far leaves room for one more within ``extra`` seconds: one seed
    per load underestimated the correlated example by 18 %, whose iteration
    counts have a long tail over seeds (3x the median at alpha = 0.01).

    ``seed_seconds[a, n]`` becomes the model times the measured-over-model
    ratio, averaged over the rounds and interpolated along the axis: the model
    knows how a step's cost grows along it (P with alpha), the samples how many
    steps it takes. (Interpolating the seconds themselves made one middle sample
    a constant: the transitions example's N = 8000 came out at 0.38x its cost at
    alpha = 0.1 and 2.1x at 0.03.) The first group of an algorithm solves its
    first sample twice: the first time loads or compiles the kernels, and its
    excess over the second goes to ``warm_ups[a]``."""
    algorithm, lines, N = spec.algorithm[a], np.asarray(spec.lines, float), spec.N[n]
    n_seeds = len(spec.seed)
    solve = seed_solver(spec)

    def seconds(k: int, seed: int) -> float:
        shadows.begin(algorithm, N, float(lines[k]), seed)
        spent = float(np.sum(solve(spec, algorithm, N, lines[k], seed)["wall_time"]))
        shadows.end()
        return spent

    def round_(r: int) -> list[float]:
        return [seconds(k, spec.seed[(j + r) % n_seeds]) for j, k in enumerate(chosen)]

    warm_up = seconds(chosen[0], spec.seed[0]) if a not in warm_ups else None
    rounds = [round_(0)]
    if warm_up is not None:
        warm_ups[a] = max(0.0, warm_up - rounds[0][0])
    spent = sum(rounds[0])
    while len(rounds) < n_seeds and spent * (len(rounds) + 1) / len(rounds) <= extra:
        rounds.append(round_(len(rounds)))
        spent += sum(rounds[-1])
    ratio = np.mean(rounds, axis=0) / model[a, n, chosen]
    seed_seconds[a, n] = model[a, n] * np.interp(lines, lines[chosen], ratio)
    return len(rounds) * chosen.size


@contextlib.contextmanager
def _shadows(spec: Spec) -> Iterator[_Shadows]:
    """The shadow processes of a local cluster's pilot (module docstring), closed on
    leaving; none for other clusters, one worker, or where processes cannot start."""
    count = 0
    if spec.cluster.kind == "local":
        count = min(spec.cluster.workers, os.cpu_count() or 1) - 1
    shadows = _Shadows(spec, count)
    try:
        yield shadows
    finally:
        shadows.close()


class _Shadows:
    """Processes that solve each pilot sample at the same time as the pilot does.

    :meth:`begin` hands every shadow the sample (a seed, as
    :func:`sweep.tasks.run_seed` / :func:`~sweep.tasks.run_transition_seed`
    take it) just before the pilot solves it; :meth:`end` waits until they
    have all finished it, so every measured solve runs beside them.
    """

    def __init__(self, spec: Spec, count: int) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self._jobs = []
        self._processes = []
        self._done = context.Queue() if count > 0 else None
        for _ in range(count):
            jobs = context.SimpleQueue()
            process = context.Process(target=_shadow, args=(spec, jobs, self._done),
                                      name="hopsweep-pilot-shadow", daemon=True)
            try:
                process.start()
            except OSError:  # no processes here: the pilot runs alone
                break
            self._jobs.append(jobs)
            self._processes.append(process)

    def begin(self, algorithm: str, N: int, line: float, seed: int) -> None:
        for jobs in self._jobs:
            jobs.put((algorithm, N, line, seed))

    def end(self) -> None:
        """Wait for every shadow to finish its sample; a shadow that died (it could
        not start, e.g. under an interpreter reading stdin) ends the shadowing."""
        for _ in self._jobs:
            while True:
                try:
                    self._done.get(timeout=SHADOW_POLL_SECONDS)
                    break
                except queue.Empty:
                    if not all(process.is_alive() for process in self._processes):
                        self.close()
                        return

    def close(self) -> None:
        for jobs, process in zip(self._jobs, self._processes, strict=True):
            if process.is_alive():
                jobs.put(None)
        for process in self._processes:
            process.join(timeout=SHADOW_POLL_SECONDS)
            if process.is_alive():
                process.terminate()
        self._jobs, self._processes = [], []


def _shadow(spec: Spec, jobs, done) -> None:
    """A shadow process: solve each job as the pilot does, say so, until None."""
    from threadpoolctl import threadpool_limits

    solve = seed_solver(spec)
    with threadpool_limits(limits=1):
        while (job := jobs.get()) is not None:
            algorithm, N, line, seed = job
            try:
                solve(spec, algorithm, N, line, seed)
            finally:
                done.put(True)
