"""Locate a retrieval transition of one disorder sample by K-section.

Two transitions of the Hopfield model are located per sample, both as the
upper end of the set of points where the state started on pattern 0 is
*retrieved* (:func:`retrieved`: the solver CONVERGED and the overlap with
pattern 0 exceeds :data:`RETRIEVAL_OVERLAP`):

- :func:`retrieval_temperature`, T_M at a fixed load: the largest temperature
  at which the retrieval state exists (it disappears on heating);
- :func:`critical_load`, alpha_c at a fixed temperature: the largest load at
  which pattern 0 is retrieved, with the patterns of the sample *nested* (load
  alpha uses the first round(alpha N) rows of one pattern matrix, so the load
  grows by adding patterns to the same network).

Both use :func:`k_section`: a bracket [lo, hi] with retrieval at lo and none at
hi is cut by K interior points evaluated at once (one batched solver call over
K temperatures for T_M), and shrinks to the sub-interval where retrieval stops,
(K + 1)-fold per round, until hi - lo <= precision. The first round evaluates K
points from lo to hi inclusive, which establishes the bracket; the last one only
as many points as the precision needs. A round whose
retrieved points are not a prefix of its sorted points (retrieval at a higher
point and none at a lower one) marks the sample TRANSITION_NOT_MONOTONE; the
search then goes on towards the largest retrieving point, the definition of the
transition, and the status says that the sample was not a simple step. Every
point is started afresh on pattern 0, so the result of a point does not depend
on the rounds before it. (Starting later rounds from the retrieval state of the
bracket's low end saved 2 % of the iterations on the samples of
bench/transitions.py: the cost is the critical slowing down next to T_M, which
a closer start does not cure.)

Status codes are the ``TRANSITION_*`` set of :mod:`kernels.status`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .initial import initial_state
from .patterns import Patterns, n_patterns
from .registry import ALGORITHMS, SolverOptions
from .solution import Solution
from .status import (
    CONVERGED,
    TRANSITION_LOCATED,
    TRANSITION_LOWER_BOUND,
    TRANSITION_NOT_MONOTONE,
    TRANSITION_UPPER_BOUND,
)

#: A converged state retrieves pattern 0 when its overlap m^0 exceeds this.
RETRIEVAL_OVERLAP = 0.5
#: Points per K-section round (physics.md g: 8 temperatures per round).
DEFAULT_POINTS = 8
#: Smallest precision relative to the bracket's magnitude: below it the
#: K-section points would be closer than float64 rounding can tell apart.
MIN_RELATIVE_PRECISION = 1e-12

#: Relative margin on the points of a last round: ceil((hi - lo) / precision)
#: intervals, widened so that rounding never leaves the bracket a hair too wide.
SPACING_MARGIN = 1e-9

#: ``evaluate(points) -> (retrieved, iterations)``: points (K,) float64 sorted
#: ascending; retrieved (K,) bool; iterations (K,) int, the solver's work per point.
Evaluate = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Transition:
    """Where retrieval stops for one sample.

    Attributes
    ----------
    estimate : float
        Midpoint of the final bracket (units of the searched axis: J for T_M,
        dimensionless for alpha_c); NaN when the transition is outside the
        initial bracket.
    lo, hi : float
        Final bracket: retrieval at ``lo``, none at ``hi``. For
        TRANSITION_LOWER_BOUND ``lo`` is the initial high end and ``hi`` NaN;
        for TRANSITION_UPPER_BOUND ``hi`` is the initial low end and ``lo`` NaN.
    evaluations : int
        Points solved (distinct solver evaluations).
    iterations : int
        Solver iterations summed over all evaluations (the work done).
    status : int
        A ``TRANSITION_*`` code of :mod:`kernels.status`.
    """

    estimate: float
    lo: float
    hi: float
    evaluations: int
    iterations: int
    status: int


def retrieved(solution: Solution) -> np.ndarray:
    """Which temperatures of a solution retrieve pattern 0.

    Parameters
    ----------
    solution : Solution
        Of K temperatures, patterns with pattern 0 in row 0.

    Returns
    -------
    ndarray of shape (K,), bool
        status == CONVERGED and overlap[:, 0] > RETRIEVAL_OVERLAP. Not
        converged, diverged and invalid states never count.
    """
    return (solution.status == CONVERGED) & (solution.overlap[:, 0] > RETRIEVAL_OVERLAP)


def _check_search(lo: float, hi: float, precision: float, points: int) -> tuple[float, float]:
    """Validate a K-section's bracket, precision and points; return lo, hi as floats."""
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"bracket: need finite lo < hi, got lo = {lo!r}, hi = {hi!r}")
    floor = MIN_RELATIVE_PRECISION * max(abs(lo), abs(hi))
    if not (np.isfinite(precision) and precision > floor):
        raise ValueError(
            f"precision: must be a finite number > {floor:.3g} (the bracket's rounding "
            f"limit), got {precision!r}; e.g. precision = {(hi - lo) / 500:.3g}"
        )
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 2:
        raise ValueError(f"points: must be an integer >= 2 (points per round), got {points!r}")
    return lo, hi


def _first_gap(hit: np.ndarray) -> tuple[int, bool]:
    """Index of the last retrieving point and whether ``hit`` is a prefix of Trues.

    ``hit`` must contain at least one True.
    """
    last = int(np.flatnonzero(hit)[-1])
    return last, bool(hit[: last + 1].all())


def k_section(
    evaluate: Evaluate,
    lo: float,
    hi: float,
    *,
    precision: float,
    points: int = DEFAULT_POINTS,
) -> Transition:
    """Largest point of a retrieval set, by rounds of ``points`` evaluations.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(x) -> (retrieved, iterations)`` for x of shape (K,) sorted
        ascending: retrieved (K,) bool, iterations (K,) int.
    lo, hi : float
        Initial bracket, lo < hi.
    precision : float
        Stop when the bracket is at most this wide (same units as lo, hi).
    points : int, default=8
        K, points per round (>= 2). The first round evaluates K points from lo
        to hi inclusive; every later round K interior points, shrinking the
        bracket (K + 1)-fold, except the last, which takes only the k <= K
        points that bring it to ``precision`` (the points nearest the
        transition are the costliest to solve: critical slowing down).

    Returns
    -------
    Transition
        ``estimate`` the midpoint of the final bracket; ``status`` LOCATED,
        NOT_MONOTONE (some round retrieved at a higher point and not at a lower
        one; the search followed the largest retrieving point), LOWER_BOUND
        (retrieval at ``hi``: the transition is above the bracket) or
        UPPER_BOUND (no retrieval anywhere in the first round, the lowest point
        ``lo`` included: the transition is below the bracket).

    Examples
    --------
    >>> step = lambda x: (x < 0.3, np.ones(x.size, dtype=int))
    >>> found = k_section(step, 0.0, 1.0, precision=1e-3)
    >>> bool(found.lo < 0.3 <= found.hi), bool(found.hi - found.lo <= 1e-3)
    (True, True)
    """
    lo, hi = _check_search(lo, hi, precision, points)
    x = np.linspace(lo, hi, points)
    hit, work = evaluate(x)
    hit = np.asarray(hit, dtype=bool)
    evaluations, iterations = points, int(np.sum(work))
    if not hit.any():
        return Transition(np.nan, np.nan, lo, evaluations, iterations, TRANSITION_UPPER_BOUND)
    if hit[-1]:
        return Transition(np.nan, hi, np.nan, evaluations, iterations, TRANSITION_LOWER_BOUND)
    last, monotone = _first_gap(hit)
    a, b = float(x[last]), float(x[last + 1])
    while b - a > precision:
        # K points, or in the last round just enough to reach the precision
        k = min(points, int(np.ceil((b - a) / precision * (1.0 + SPACING_MARGIN))) - 1)
        edges = np.linspace(a, b, k + 2)
        hit, work = evaluate(edges[1:-1])
        evaluations += k
        iterations += int(np.sum(work))
        # the bracket's ends are known: retrieval at a, none at b
        last, prefix = _first_gap(np.concatenate([[True], np.asarray(hit, dtype=bool), [False]]))
        monotone &= prefix
        a, b = float(edges[last]), float(edges[last + 1])
    status = TRANSITION_LOCATED if monotone else TRANSITION_NOT_MONOTONE
    return Transition(0.5 * (a + b), a, b, evaluations, iterations, status)


def _solver(algorithm: str, patterns, options, rng):
    """``solve(patterns, beta) -> Solution`` of one sample, and its patterns.

    The algorithm's runner from the registry, with ``options`` (defaults if
    None), every evaluation started on pattern 0, m_i = sign(xi^0_i), and
    drawing from ``rng`` (sampling methods only).
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"algorithm: unknown {algorithm!r}; choose one of {sorted(ALGORITHMS)}"
        )
    run = ALGORITHMS[algorithm].run
    patterns = patterns if isinstance(patterns, Patterns) else Patterns(xi=np.asarray(patterns))
    options = SolverOptions() if options is None else options
    rng = np.random.default_rng(0) if rng is None else rng
    start = initial_state(patterns.xi, "retrieval", rng)

    def solve(sample: Patterns, beta: np.ndarray) -> Solution:
        return run(sample, beta, start, options, rng)

    return solve, patterns


def retrieval_temperature(
    patterns: Patterns | np.ndarray,
    T_lo: float,
    T_hi: float,
    *,
    precision: float,
    algorithm: str = "tap",
    options: SolverOptions | None = None,
    points: int = DEFAULT_POINTS,
    rng: np.random.Generator | None = None,
) -> Transition:
    """T_M of one sample: the largest temperature at which pattern 0 is retrieved.

    Each round solves its K temperatures in one batched call of
    ``kernels.registry.ALGORITHMS[algorithm].run`` (for TAP: GEMMs over K
    columns), every temperature started afresh on pattern 0.

    Parameters
    ----------
    patterns : Patterns or ndarray of shape (P, N)
        The sample's patterns; pattern 0 is the one retrieved.
    T_lo, T_hi : float
        Temperature bracket in units of J, 0 < T_lo < T_hi.
    precision : float
        Stop when T_hi - T_lo of the bracket is at most this (J).
    algorithm : str, default="tap"
        A name in :data:`kernels.registry.ALGORITHMS`.
    options : SolverOptions, optional
        Solver knobs (damping, tol, max_iter, dtype, ...); defaults if None.
    points : int, default=8
        Temperatures per round.
    rng : numpy.random.Generator, optional
        The sample's ``dynamics`` stream, for sampling methods (Monte Carlo).

    Returns
    -------
    Transition
        In units of J. See :func:`k_section` for the statuses.
    """
    solve, patterns = _solver(algorithm, patterns, options, rng)
    if not float(T_lo) > 0:
        raise ValueError(f"T_lo: must be > 0 (units of J), got {T_lo!r}")

    def evaluate(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        solution = solve(patterns, 1.0 / T)
        return retrieved(solution), solution.iterations

    return k_section(evaluate, T_lo, T_hi, precision=precision, points=points)


def first_patterns(patterns: Patterns, P: int) -> Patterns:
    """The sample restricted to its first ``P`` patterns (nested loads).

    Parameters
    ----------
    patterns : Patterns
        With at least ``P`` patterns.
    P : int
        Patterns kept, 1 <= P <= patterns.P.

    Returns
    -------
    Patterns
        ``xi[:P]`` (a view, no copy); for feature-built models the top mixing
        matrix is cut to its first ``P`` rows, the features are kept.
    """
    if not 1 <= P <= patterns.P:
        raise ValueError(f"P: need 1 <= P <= {patterns.P} (patterns of the sample), got {P}")
    mixing = patterns.mixing
    if mixing is not None:
        mixing = (mixing[0][:P], *mixing[1:])
    return replace(patterns, xi=patterns.xi[:P], mixing=mixing)


def critical_load(
    patterns: Patterns | np.ndarray,
    T: float,
    alpha_lo: float,
    alpha_hi: float,
    *,
    precision: float,
    algorithm: str = "tap",
    options: SolverOptions | None = None,
    points: int = DEFAULT_POINTS,
    rng: np.random.Generator | None = None,
) -> Transition:
    """alpha_c of one sample at temperature T, with nested patterns.

    Load alpha uses the first P = round(alpha N) rows of ``patterns`` (see
    :func:`first_patterns`); loads that round to the same P are solved once
    (so ``evaluations`` counts distinct P). Each load is one solver call at one
    temperature.

    Parameters
    ----------
    patterns : Patterns or ndarray of shape (P_max, N)
        The sample's nested patterns, P_max >= round(alpha_hi N).
    T : float
        Temperature in units of J, > 0.
    alpha_lo, alpha_hi : float
        Load bracket, 0 < alpha_lo < alpha_hi, round(alpha_lo N) >= 1.
    precision : float
        Stop when the load bracket is at most this wide. Loads are resolved
        to 1/N at best (one pattern).
    algorithm, options, points, rng
        As in :func:`retrieval_temperature`.

    Returns
    -------
    Transition
        Loads (dimensionless). See :func:`k_section` for the statuses.
    """
    solve, patterns = _solver(algorithm, patterns, options, rng)
    N = patterns.N
    if not float(T) > 0:
        raise ValueError(f"T: must be > 0 (units of J), got {T!r}")
    if n_patterns(N, alpha_lo) < 1:
        raise ValueError(
            f"alpha_lo: round(alpha_lo * N) = 0 patterns at N = {N}; raise it to >= {1.0 / N:.3g}"
        )
    if n_patterns(N, alpha_hi) > patterns.P:
        raise ValueError(
            f"alpha_hi: needs round(alpha_hi * N) = {n_patterns(N, alpha_hi)} patterns, the "
            f"sample has {patterns.P}; build the patterns with alpha = alpha_hi"
        )
    beta = np.array([1.0 / float(T)])
    done: dict[int, tuple[bool, int]] = {}

    def evaluate(alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hit, work = np.zeros(alpha.size, dtype=bool), np.zeros(alpha.size, dtype=np.int64)
        for k, value in enumerate(alpha):
            P = n_patterns(N, value)
            if P not in done:
                solution = solve(first_patterns(patterns, P), beta)
                done[P] = (bool(retrieved(solution)[0]), int(solution.iterations[0]))
                work[k] = done[P][1]
            hit[k] = done[P][0]
        return hit, work

    found = k_section(evaluate, alpha_lo, alpha_hi, precision=precision, points=points)
    return replace(found, evaluations=len(done))
