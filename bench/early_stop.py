"""What TAP's early stop saves, and whether it costs a converging state, over several grids.

Run: ``python bench/early_stop.py`` (about a minute on one core).

The early stop (``kernels.tap``, ``STAGNATION_*``) ends a temperature whose
residual stagnates as ``not_converged`` before ``max_iter``. It pays only if it
never ends a temperature that would have converged within the budget. Each grid
below is solved twice on the same disorder, ``tap.solve(early_stop=False)`` and
``early_stop=True``, from pattern 0 (as a sweep starts); the bench prints the
point-iterations each way and every point that converges without the early stop
but not with it (a *lost* state), with the iterations it needed.

Change a ``STAGNATION_*`` constant or the rule, rerun, and compare: a rule is
acceptable when ``lost=0`` on every grid. The grids span sizes (N = 500-4000),
loads up to the retrieval edge, temperatures through the spin-glass region
(T between 1 and T_g, where most of the saved iterations are), dampings and
float32, and two disorder samples where a grid is cheap.

The last line is machine-readable: ``early_stop_saving=S lost=L`` (S: the share
of point-iterations saved over all grids; L: converging states lost).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import _unshadow  # noqa: F401  (first: the kernels package, not bench/kernels.py)
import numpy as np

from kernels import tap
from kernels.patterns import iid, point_rng
from kernels.status import CONVERGED

ROOT_SEED = 2017
MAX_ITER = 2000


@dataclass(frozen=True)
class Grid:
    """A grid of TAP solves from pattern 0: every load x seed, all temperatures at once."""

    N: int
    alphas: tuple[float, ...]
    T: tuple[float, ...]
    seeds: tuple[int, ...] = (0,)
    damping: float = 0.5
    dtype: str = "float64"

    def patterns(self, alpha: float, seed: int = 0) -> np.ndarray:
        """The ±1 patterns (P, N) of one sample, drawn as a sweep with ROOT_SEED draws them."""
        return iid(self.N, alpha, point_rng(ROOT_SEED, self.N, alpha, seed)).xi

    @property
    def beta(self) -> np.ndarray:
        """Inverse temperatures (K,)."""
        return 1.0 / np.asarray(self.T)

    def label(self) -> str:
        return (f"N={self.N} alpha={self.alphas[0]:g}-{self.alphas[-1]:g} "
                f"{len(self.T)} T in [{self.T[0]:g}, {self.T[-1]:g}] seeds={len(self.seeds)} "
                f"damping={self.damping:g} {self.dtype}")


def _temperatures(start: float, stop: float, num: int) -> tuple[float, ...]:
    return tuple(float(t) for t in np.linspace(start, stop, num))


#: bench/kernels.py's grid first (its early-stop section reports that one alone).
GRIDS = (
    Grid(1000, (0.02, 0.05, 0.08, 0.1, 0.12), _temperatures(0.05, 1.2, 24)),
    Grid(500, (0.02, 0.05, 0.08, 0.1, 0.12, 0.14), _temperatures(0.05, 1.3, 24), seeds=(0, 1)),
    Grid(2000, tuple(float(a) for a in np.linspace(0.02, 0.16, 8)),
         _temperatures(0.05, 1.2, 32), seeds=(0, 1)),
    Grid(4000, (0.05, 0.1, 0.14), _temperatures(0.3, 1.3, 16)),
    Grid(1000, (0.02, 0.06, 0.1, 0.13), _temperatures(0.05, 1.3, 24), dtype="float32"),
    Grid(1000, (0.03, 0.08, 0.12), _temperatures(0.05, 1.3, 24), damping=0.0),
    Grid(1000, (0.03, 0.08, 0.12), _temperatures(0.05, 1.3, 24), damping=0.8),
)


@dataclass
class Outcome:
    """The two runs of one grid."""

    iterations: dict[bool, int]
    unconverged: dict[bool, int]
    seconds: dict[bool, float]
    converged: dict[bool, int]
    lost: list[str]


def compare(grid: Grid) -> Outcome:
    """Solve ``grid`` without and with the early stop, on the same disorder."""
    outcome = Outcome({}, {}, {}, {}, [])
    status, iterations = {}, {}
    for early_stop in (False, True):
        start = time.perf_counter()
        runs = []
        for alpha in grid.alphas:
            for seed in grid.seeds:
                xi = grid.patterns(alpha, seed)
                runs.append(tap.solve(xi, grid.beta, xi[0], damping=grid.damping, max_iter=MAX_ITER,
                                      dtype=grid.dtype, early_stop=early_stop))
        outcome.seconds[early_stop] = time.perf_counter() - start
        status[early_stop] = np.array([run.status for run in runs])
        iterations[early_stop] = np.array([run.iterations for run in runs])
        outcome.iterations[early_stop] = int(iterations[early_stop].sum())
        done = status[early_stop] == CONVERGED
        outcome.converged[early_stop] = int(done.sum())
        outcome.unconverged[early_stop] = int(iterations[early_stop][~done].sum())
    lost = (status[False] == CONVERGED) & (status[True] != CONVERGED)
    cases = [(alpha, seed) for alpha in grid.alphas for seed in grid.seeds]
    for row, k in zip(*np.nonzero(lost), strict=True):
        alpha, seed = cases[row]
        outcome.lost.append(
            f"alpha={alpha:g} seed={seed} T={grid.T[k]:.3f}: converges at iteration "
            f"{iterations[False][row, k]}, stopped at {iterations[True][row, k]}")
    return outcome


def report(grid: Grid, outcome: Outcome) -> None:
    """Print one grid's lines."""
    without, with_ = outcome.iterations[False], outcome.iterations[True]
    print(grid.label())
    for early_stop, label in ((False, "without early stop"), (True, "with early stop")):
        iterations = outcome.iterations[early_stop]
        print(f"  {label:<18}: {iterations:>8} point-iterations "
              f"({outcome.unconverged[early_stop] / iterations:.0%} on points ending unconverged), "
              f"{outcome.converged[early_stop]} converged, {outcome.seconds[early_stop]:.1f} s")
    print(f"  early stop: {without / with_:.1f}x fewer point-iterations, "
          f"{len(outcome.lost)} converging states lost")
    for line in outcome.lost:
        print(f"  LOST {line}")


def main() -> None:
    total = {False: 0, True: 0}
    lost = 0
    for grid in GRIDS:
        outcome = compare(grid)
        report(grid, outcome)
        for early_stop in total:
            total[early_stop] += outcome.iterations[early_stop]
        lost += len(outcome.lost)
    print(f"early_stop_saving={1.0 - total[True] / total[False]:.3f} lost={lost}")


if __name__ == "__main__":
    main()
