"""The algorithms a sweep can select, behind one calling convention.

Every entry runs one disorder sample over K temperatures::

    solution = ALGORITHMS[name].run(patterns, beta, m0, options, rng)

with ``patterns`` a :class:`kernels.patterns.Patterns`, ``beta`` of shape (K,),
``m0`` of shape (N,), ``options`` a :class:`SolverOptions` and ``rng`` the point's
``dynamics`` stream (used by sampling methods only). Adding an algorithm is one
entry here; the sweep engine needs no change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from ._checks import DTYPES, MAX_ITER, effective_tol
from .exact_limits import EXACT_MAX_N
from .patterns import Patterns
from .solution import Solution


@dataclass(frozen=True)
class SolverOptions:
    """Knobs shared by the iterative solvers (the ``[solver]`` table of a config).

    Attributes
    ----------
    damping : float
        Weight of the old iterate, m <- (1 - d) new + d old, in [0, 1).
    tol : float
        Convergence threshold on max_i |m_i^{t+1} - m_i^t|.
    max_iter : int
        Iteration budget per temperature.
    dtype : {"float64", "float32"}
        Floating type of the iterative solvers (TAP, naive mean field, relaxed
        BP; full BP always runs in float64).
    reaction : {"iid", "spectral", "spectral_site"}
        Onsager term of ``tap``: ``spectral`` for correlated patterns,
        ``spectral_site`` also treats each site's self-coupling J_ii exactly
        (real-valued patterns).
    mc_sweeps : int
        Monte Carlo sweeps per chain (half of them discarded as burn-in).
    mc_chains : int
        Independent Monte Carlo chains (error bars from their spread).
    field : float
        Strength h of an external field h * xi^0 along pattern 0 (0: none). It
        selects the retrieval state where symmetry alone would not (exact
        enumeration at h = 0 has <s_i> = 0 exactly).
    """

    damping: float = 0.5
    tol: float = 1e-8
    max_iter: int = MAX_ITER
    dtype: str = DTYPES[0]
    reaction: str = "iid"
    mc_sweeps: int = 2000
    mc_chains: int = 4
    field: float = 0.0

    @property
    def effective_tol(self) -> float:
        """The tolerance the iterative solvers use: ``tol``, raised in float32 to
        32 machine epsilons (3.8e-6), below which the residual is rounding noise."""
        return effective_tol(self.tol, self.dtype)


Runner = Callable[[Patterns, np.ndarray, np.ndarray, SolverOptions, np.random.Generator], Solution]


@dataclass(frozen=True)
class Algorithm:
    """One selectable algorithm.

    Attributes
    ----------
    name : str
        Name used in configs and in the ``algorithm`` coordinate.
    run : callable
        ``run(patterns, beta, m0, options, rng) -> Solution``.
    summary : str
        One line for ``--help`` and dataset attributes.
    reads : frozenset of str
        The :class:`SolverOptions` fields ``run`` uses; the others have no effect
        on it (see :func:`unused_options`).
    max_N : int or None
        Largest N it can handle (exact enumeration), None if unbounded.
    has_free_energy : bool
        Whether its ``free_energy`` is defined.
    iteration_cost : float
        Cost of one iteration per (temperature, pattern, neuron) relative to a
        batched TAP step, for the sweep's cost model (iterative solvers only).
    loop_flops : callable or None
        ``loop_flops(N, P, K, options)``: scalar-loop operations of one sample
        over K temperatures, for methods whose work is not iterations of matrix
        products (Monte Carlo, enumeration); None for the iterative solvers.
    min_patterns : int
        Fewest patterns it needs (a method conditioned on pattern 1 needs two).
    needs_feature_mixture : bool
        Whether it needs patterns built as linear mixtures of features.
    """

    name: str
    run: Runner
    summary: str
    reads: frozenset[str]
    max_N: int | None = None
    has_free_energy: bool = True
    iteration_cost: float = 1.0
    loop_flops: Callable[[int, int, int, SolverOptions], float] | None = None
    min_patterns: int = 1
    needs_feature_mixture: bool = False


def _iterative(options: SolverOptions) -> dict:
    return {"damping": options.damping, "tol": options.tol, "max_iter": options.max_iter}


def _field(patterns: Patterns, options: SolverOptions) -> np.ndarray | None:
    """External fields h_i = h xi^0_i, or None without a field."""
    return options.field * patterns.xi[0] if options.field else None


def _tap(patterns, beta, m0, options, rng):
    from . import tap

    return tap.solve(patterns.xi, beta, m0, field=_field(patterns, options),
                     reaction=options.reaction, dtype=options.dtype, **_iterative(options))


def _nmf(patterns, beta, m0, options, rng):
    from . import tap

    return tap.solve(patterns.xi, beta, m0, field=_field(patterns, options), reaction="none",
                     dtype=options.dtype, **_iterative(options))


def _bp(relaxed: bool, retrieved: int | None) -> Runner:
    def run(patterns, beta, m0, options, rng):
        from . import bp

        # full BP's quadrature runs in float64 only
        dtype = options.dtype if relaxed else "float64"
        return bp.solve(patterns.xi, beta, m0, retrieved=retrieved, relaxed=relaxed,
                        field=_field(patterns, options), dtype=dtype, **_iterative(options))

    return run


def _layered(patterns, beta, m0, options, rng):
    from . import layered

    if not patterns.is_feature_mixture:
        raise ValueError(
            "algorithm 'layered' needs patterns that are linear mixtures of features: "
            "set [patterns] kind = 'features'"
        )
    return layered.solve(patterns.features, list(patterns.mixing), beta, m0,
                         field=_field(patterns, options), **_iterative(options))


def _mc(patterns, beta, m0, options, rng):
    from . import montecarlo

    return montecarlo.solve(patterns.xi, beta, m0, field=_field(patterns, options),
                            n_sweeps=options.mc_sweeps, n_chains=options.mc_chains, rng=rng)


def _exact(patterns, beta, m0, options, rng):
    from . import exact

    return exact.solve(patterns.xi, beta, field=_field(patterns, options))


def _mc_flops(N: int, P: int, K: int, options: SolverOptions) -> float:
    """Glauber sweeps: 2 N P per sweep (a local field), per chain and temperature."""
    return 2.0 * N * P * K * options.mc_sweeps * options.mc_chains


def _exact_flops(N: int, P: int, K: int, options: SolverOptions) -> float:
    """Enumeration: 2^N states of N P work each, per temperature."""
    return 2.0**N * N * P * K


#: Relaxed BP per (point, iteration) over batched TAP: 6.1 at N = 2000, alpha = 0.1
#: (``python bench/kernels.py``, bp_relaxed_over_tap).
RELAXED_BP_COST = 6.0
#: Full BP computes every message by quadrature: 1.1-1.8 us per (edge, temperature,
#: iteration) measured at N = 100-500, T = 0.3-1 (a few hundred nodes per edge),
#: about 3000 times a TAP step's 4 flops per edge at the plan's nominal rate.
FULL_BP_COST = 3000.0
#: Multi-layer AMP per iteration over TAP: 3.0 (``python bench/correlated.py``).
LAYERED_COST = 3.0

# SolverOptions fields read by the runners above.
_ITERATIVE = frozenset({"damping", "tol", "max_iter", "field"})
_TYPED = _ITERATIVE | {"dtype"}

ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in [
        Algorithm("tap", _tap, "TAP / AMP equations with the Onsager reaction term",
                  _TYPED | {"reaction"}),
        Algorithm("nmf", _nmf, "naive mean field (J_ii = 0, no reaction term)", _TYPED),
        Algorithm("bp", _bp(relaxed=False, retrieved=None),
                  "full belief propagation (exact hidden-to-neuron messages)", _ITERATIVE,
                  iteration_cost=FULL_BP_COST),
        Algorithm("bp_relaxed", _bp(relaxed=True, retrieved=None),
                  "relaxed BP with Gaussian messages, symmetric in the patterns", _TYPED,
                  iteration_cost=RELAXED_BP_COST),
        Algorithm("bp_retrieval", _bp(relaxed=True, retrieved=0),
                  "relaxed BP conditioned on pattern 0 being retrieved", _TYPED,
                  iteration_cost=RELAXED_BP_COST),
        Algorithm("bp_retrieval_wrong", _bp(relaxed=True, retrieved=1),
                  "relaxed BP conditioned on pattern 1 while the state starts on pattern 0 "
                  "(shows that BP must be told which pattern is retrieved)", _TYPED,
                  iteration_cost=RELAXED_BP_COST, min_patterns=2),
        Algorithm("layered", _layered, "multi-layer AMP for feature-built patterns", _ITERATIVE,
                  iteration_cost=LAYERED_COST, needs_feature_mixture=True),
        Algorithm("mc", _mc, "Glauber Monte Carlo (reference)",
                  frozenset({"mc_sweeps", "mc_chains", "field"}), has_free_energy=False,
                  loop_flops=_mc_flops),
        Algorithm("exact", _exact, "exact enumeration of all 2^N states (reference)",
                  frozenset({"field"}), max_N=EXACT_MAX_N, loop_flops=_exact_flops),
    ]
}


def unused_options(algorithms: Sequence[str], options: SolverOptions) -> dict[str, list[str]]:
    """Options set away from their defaults that none of ``algorithms`` reads.

    Parameters
    ----------
    algorithms : sequence of str
        Names in :data:`ALGORITHMS`.
    options : SolverOptions

    Returns
    -------
    dict
        Option name -> the algorithms that would read it (empty if none does),
        for each option whose value differs from the default and has no effect
        on any of ``algorithms``.
    """
    defaults = SolverOptions()
    used = frozenset().union(*(ALGORITHMS[name].reads for name in algorithms))
    return {
        option.name: [a.name for a in ALGORITHMS.values() if option.name in a.reads]
        for option in fields(SolverOptions)
        if option.name not in used
        and getattr(options, option.name) != getattr(defaults, option.name)
    }
