"""Turn a Spec into tasks and store chunks, lazily.

One task is one (algorithm, N, alpha) and a block of consecutive seeds, over all
temperatures; it is also exactly one store chunk (chunk over seed = the seed
block, the whole T axis), so every chunk has one writer. Tasks are generated on
demand from their integer ids: a sweep of 10^6 points never materialises per-point
objects.

The seed block comes from the cost model (:mod:`sweep.cost`): a task of the
median (algorithm, N, alpha) should run for :func:`sweep.cost.task_seconds` of
the whole sweep (0.5 s for small sweeps, longer for large ones, where the
engine's per-task overhead adds up); one block size for the whole sweep because
Zarr chunks are regular, with the seeds shared evenly among the blocks of a
line. A small sweep is still cut into at least ``MIN_TASKS_PER_WORKER`` tasks
per worker (per shard, for ``hopsweep shard``) where its seeds allow, so that no
worker idles while another computes the whole grid.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from kernels.patterns import n_patterns
from kernels.status import FAILED, PENDING

from .cost import seed_costs, task_seconds
from .schema import GRID, Layout, layout_of
from .spec import Spec

#: Fewest tasks per worker of ``[cluster] workers`` a sweep is cut into, seeds allowing.
MIN_TASKS_PER_WORKER = 2

#: Copies of the pattern matrix (float64 sized) a task holds at its peak: the
#: patterns, the solver's cast and transposed copies and one temporary, plus
#: the interpreter. Measured (bench/transitions.py): N = 16000, P = 2240, whose
#: 273 MiB matrix peaked at 1280 MiB resident (4.7 times), then at 1553 MiB
#: (5.7 times) with the TAP kernel of main 2fdbc8c.
PATTERN_COPIES = 6


class Task(NamedTuple):
    """One unit of work and the store chunk it fills.

    Attributes
    ----------
    id : int
        Stable id: row-major over (algorithm, N, alpha, seed block).
    a, n, k : int
        Indices into the algorithm, N and alpha axes.
    s0, s1 : int
        Seed index range [s0, s1) on the seed axis.
    """

    id: int
    a: int
    n: int
    k: int
    s0: int
    s1: int


@dataclass(frozen=True)
class Plan:
    """Tasks and chunks of a spec.

    Attributes
    ----------
    spec : Spec
    seed_block : int
        Seeds per task and per store chunk along ``seed``.
    """

    spec: Spec
    seed_block: int

    #: Dimensions and variables of the store this plan fills.
    layout: Layout = GRID

    @cached_property
    def n_blocks(self) -> int:
        return math.ceil(len(self.spec.seed) / self.seed_block)

    @property
    def n_tasks(self) -> int:
        n_alg, n_N, n_lines = self.spec.shape[:3]
        return n_alg * n_N * n_lines * self.n_blocks

    @property
    def n_chunks(self) -> int:
        """Chunks per data variable (one per task)."""
        return self.n_tasks

    @property
    def chunks(self) -> dict[str, int]:
        """Chunk size of every dimension of the store."""
        sizes = {"algorithm": 1, "N": 1, self.spec.line_dim: 1, "seed": self.seed_block}
        if self.spec.transition is None:
            sizes["T"] = len(self.spec.T)
        if self.spec.sites:
            sizes["site"] = max(self.spec.N)
        return sizes

    def task(self, task_id: int) -> Task:
        """The task with this id (inverse of the row-major numbering)."""
        if not 0 <= task_id < self.n_tasks:
            raise ValueError(f"task_id must be in [0, {self.n_tasks}), got {task_id}")
        _, n_N, n_alpha = self.spec.shape[:3]
        rest, block = divmod(task_id, self.n_blocks)
        rest, k = divmod(rest, n_alpha)
        a, n = divmod(rest, n_N)
        s0 = block * self.seed_block
        return Task(task_id, a, n, k, s0, min(s0 + self.seed_block, len(self.spec.seed)))

    def tasks(self, index: int = 0, count: int = 1) -> Iterator[Task]:
        """Tasks in id order; with ``count > 1``, the shard ``id % count == index``.

        Shards are disjoint, cover every task, and each is made of whole chunks.
        """
        _check_shard(index, count)
        for task_id in range(index, self.n_tasks, count):
            yield self.task(task_id)

    def by_cost(self) -> list[tuple[int, int, int]]:
        """(algorithm, N, alpha) indices, the most expensive (``seed_costs``) first.

        Ties keep the id order. One entry per (algorithm, N, alpha), never per
        point or task.
        """
        cost = seed_costs(self.spec)
        return sorted(np.ndindex(cost.shape), key=lambda group: -cost[group])

    def pending(self, status: np.ndarray, retry_failed: bool = False,
                index: int = 0, count: int = 1) -> Iterator[tuple[Task, np.ndarray]]:
        """Tasks with points still to compute, and which of their seeds.

        The most expensive (algorithm, N, alpha) come first (:meth:`by_cost`), so
        the last tasks of a run are short and the workers finish together
        instead of one of them idling while another works through the largest
        loads.

        Parameters
        ----------
        status : ndarray of shape (algorithm, N, alpha, seed, T), int8
            The store's status (0 pending, 4 failed); transition stores have no T.
        retry_failed : bool, default=False
            Also recompute seeds with a failed point.
        index, count : int
            Restrict to one shard (see :meth:`tasks`).

        Yields
        ------
        task : Task
        seeds : ndarray of shape (s1 - s0,), bool
            Seeds of the block to compute (a seed is computed over all T).
        """
        _check_shard(index, count)
        todo = self.todo(status, retry_failed)
        n_N, n_alpha = self.spec.shape[1:3]
        for a, n, k in self.by_cost():
            first = ((a * n_N + n) * n_alpha + k) * self.n_blocks
            for task_id in range(first, first + self.n_blocks):
                if task_id % count != index:
                    continue
                task = self.task(task_id)
                seeds = todo[a, n, k, task.s0:task.s1]
                if seeds.any():
                    yield task, seeds

    @staticmethod
    def todo(status: np.ndarray, retry_failed: bool = False) -> np.ndarray:
        """Boolean (algorithm, N, alpha, seed): seeds with a point to compute."""
        per_seed = status.reshape(*status.shape[:4], -1)  # a transition store: 1 per seed
        todo = (per_seed == PENDING).any(axis=-1)
        if retry_failed:
            todo |= (per_seed == FAILED).any(axis=-1)
        return todo

    def estimated_seconds(self) -> float:
        """Estimated compute time of the whole sweep on one core, s."""
        return len(self.spec.seed) * float(seed_costs(self.spec).sum())

    def task_bytes(self) -> int:
        """Estimated peak memory of one task, bytes: its largest pattern matrix (float64)
        times ``PATTERN_COPIES``."""
        spec = self.spec
        loads = ((spec.transition.hi,) if spec.line_dim == "T" and spec.transition is not None
                 else spec.alpha)
        largest = max(N * n_patterns(N, alpha) for N in spec.N for alpha in loads)
        return PATTERN_COPIES * np.dtype(np.float64).itemsize * largest

    def estimated_bytes(self) -> int:
        """Upper bound of the store size (uncompressed, all points written), bytes."""
        spec = self.spec
        size = spec.n_points * self.layout.bytes_per_point
        if spec.sites:
            size += spec.n_points * max(spec.N) * np.dtype(spec.options.dtype).itemsize
        return size


def _check_shard(index: int, count: int) -> None:
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"need 0 <= index < count, got index={index}, count={count}")


def make_plan(spec: Spec, workers: int | None = None) -> Plan:
    """Plan a spec: choose the seed block from the cost model (module docstring).

    Parameters
    ----------
    spec : Spec
    workers : int, optional
        Processes that will compute the sweep at once; default
        ``spec.cluster.workers`` (``hopsweep shard`` passes its ``count``).

    Returns
    -------
    Plan
    """
    costs = seed_costs(spec)
    n_seeds = len(spec.seed)
    workers = spec.cluster.workers if workers is None else workers
    seconds = task_seconds(n_seeds * float(costs.sum()), workers)
    block = min(n_seeds, math.ceil(seconds / float(np.median(costs))))
    # enough tasks for every worker: costs.size * ceil(seeds / block) >= this many
    spread = costs.size * n_seeds // (MIN_TASKS_PER_WORKER * workers)
    block = max(1, min(block, spread))
    # as many blocks per line as this size makes, of (nearly) equal size
    return Plan(spec, math.ceil(n_seeds / math.ceil(n_seeds / block)), layout_of(spec))
