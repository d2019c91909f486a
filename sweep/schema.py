"""The dataset schema: dimensions, variables, attributes and status flags of a store.

The single owner of the layout of DESIGN.md ("The dataset"). The store writes
it (:mod:`sweep.store`), the results module reads it (:mod:`sweep.results`),
the plan sizes it (:mod:`sweep.plan`); none of them restates a name, a dtype
or a fill value. Status codes and their meanings come from their owner,
:mod:`kernels.status` (the solvers set some of them, the engine the others).

A store has a :class:`Layout`: its dimensions (the sample dimensions, which one
task covers in whole chunks, then the per-point ones), its variables and the
fill value of each. A grid sweep's layout is :data:`GRID`; another kind of
sweep (e.g. a transition search) declares its own :class:`Layout` here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kernels.status import (
    CONVERGED,
    FAILED,
    INVALID,
    PENDING,
    STATUS_MEANINGS,
    TRANSITION_MEANINGS,
    TRANSITION_PENDING,
)

if TYPE_CHECKING:
    from .spec import Spec

__all__ = [
    "CONVERGED", "FAILED", "INVALID", "PENDING", "STATUS_MEANINGS", "COORDINATES", "DIMS",
    "ERROR", "GRID", "Layout", "MAGNETIZATION", "SAMPLE_DIMS", "TRANSITION_VARIABLES",
    "VARIABLES", "Variable", "layout_of", "status_attrs", "transition_layout",
]


@dataclass(frozen=True)
class Variable:
    """One stored variable: dtype, fill value (its value where nothing was written),
    CF ``long_name`` and ``units``."""

    dtype: str
    fill: Any
    long_name: str
    units: str

    @property
    def attrs(self) -> dict[str, str]:
        """``{"long_name": ..., "units": ...}``."""
        return {"long_name": self.long_name, "units": self.units}

    @property
    def itemsize(self) -> int:
        """Bytes per value (strings: 0, not sized)."""
        return 0 if self.dtype == "str" else np.dtype(self.dtype).itemsize


def status_attrs(meanings: dict[int, str] = STATUS_MEANINGS) -> dict[str, Any]:
    """CF flag attributes of ``status``: ``flag_values`` and ``flag_meanings``."""
    return {"flag_values": list(meanings), "flag_meanings": " ".join(meanings.values())}


@dataclass(frozen=True)
class Layout:
    """Dimensions and variables of one kind of store.

    Attributes
    ----------
    dims : tuple of str
        Dimensions of the per-point variables, in storage order.
    sample_dims : tuple of str
        The leading dimensions one task covers as a whole (``error`` lives on them).
    variables : dict of str to Variable
        Per-point variables, in the order they are written (``status`` last: it
        marks a point done).
    flags : dict of int to str
        The codes of ``status`` and their CF meanings.
    """

    dims: tuple[str, ...]
    sample_dims: tuple[str, ...]
    variables: dict[str, Variable]
    flags: dict[int, str] = field(default_factory=lambda: STATUS_MEANINGS)

    @property
    def bytes_per_point(self) -> int:
        """Uncompressed bytes of one point over all variables."""
        return sum(var.itemsize for var in self.variables.values())


DIMS = ("algorithm", "N", "alpha", "seed", "T")
SAMPLE_DIMS = DIMS[:4]

#: Data variables over all five dimensions, in the order they are written
#: (``status`` last: it marks the point done).
VARIABLES: dict[str, Variable] = {
    "m": Variable("float64", np.nan, "overlap with the retrieved pattern (pattern 0)", "1"),
    "m_other": Variable("float64", np.nan, "largest |overlap| with any other pattern", "1"),
    "q": Variable("float64", np.nan, "Edwards-Anderson parameter (1/N) sum_i <s_i>^2", "1"),
    "free_energy": Variable("float64", np.nan, "free energy per neuron at the fixed point", "J"),
    "iterations": Variable("int32", -1, "iterations (Monte Carlo sweeps) spent, -1 if not run",
                           "1"),
    "residual": Variable("float64", np.nan, "last max_i |m_i(t+1) - m_i(t)|", "1"),
    "converged": Variable("bool", False, "iteration met its tolerance", "1"),
    "n_condensed": Variable("int32", -1,
                            "patterns with |overlap| above the condensation threshold "
                            "(kernels.solution.condensation_threshold), -1 if not run", "1"),
    "best_pattern": Variable("int32", -1, "index of the pattern of largest |overlap|, "
                             "-1 if not run", "1"),
    "wall_time": Variable("float64", np.nan,
                          "solver wall time of the seed shared equally among its temperatures",
                          "s"),
    "status": Variable("int8", PENDING, "outcome of the point", "1"),
}

#: The layout of a grid sweep (DESIGN.md, "The dataset").
GRID = Layout(DIMS, SAMPLE_DIMS, VARIABLES)

#: Text of the error of failed points, over the sample dimensions; "" otherwise.
ERROR = Variable("str", "", "error of a failed point (empty otherwise)", "1")
#: Per-neuron magnetizations (``[output] sites = true``), NaN-padded past N, stored
#: in the solver's dtype (``[solver] dtype``), over DIMS + ("site",).
MAGNETIZATION = Variable("float64", np.nan, "local magnetization <s_i>", "1")

#: long_name and units of every coordinate.
COORDINATES: dict[str, tuple[str, str]] = {
    "algorithm": ("algorithm name (kernels.registry)", "1"),
    "N": ("number of neurons", "1"),
    "alpha": ("load P / N", "1"),
    "seed": ("disorder sample index", "1"),
    "T": ("temperature", "J / k_B"),
    "site": ("neuron index", "1"),
    "P": ("number of patterns round(alpha N)", "1"),
}


#: The transition of each kind of transition mode: its variable, long_name and units.
TRANSITION_VARIABLES: dict[str, tuple[str, str, str]] = {
    "retrieval_temperature": (
        "T_M", "retrieval temperature: largest T at which pattern 0 is retrieved", "J / k_B"),
    "critical_load": (
        "alpha_c", "critical load: largest alpha at which pattern 0 is retrieved "
        "(patterns nested within the sample)", "1"),
}


def transition_layout(kind: str, line_dim: str) -> Layout:
    """The layout of a transition store (DESIGN.md, "Transition mode").

    Parameters
    ----------
    kind : {"retrieval_temperature", "critical_load"}
    line_dim : {"alpha", "T"}
        The grid axis the transition lines run along.

    Returns
    -------
    Layout
        Dims (algorithm, N, line_dim, seed), one value per sample: the estimate
        (``T_M`` or ``alpha_c``), the final bracket ``lo``, ``hi``, the work
        ``evaluations`` and ``iterations``, ``wall_time`` and ``status``
        (TRANSITION_* codes of kernels.status).
    """
    name, long_name, units = TRANSITION_VARIABLES[kind]
    dims = ("algorithm", "N", line_dim, "seed")
    variables = {
        name: Variable("float64", np.nan, f"{long_name}; midpoint of the final bracket", units),
        "lo": Variable("float64", np.nan, f"{name}: low end of the final bracket (retrieval)",
                       units),
        "hi": Variable("float64", np.nan, f"{name}: high end of the final bracket (none)",
                       units),
        "evaluations": Variable("int32", -1, "points solved by the search, -1 if not run", "1"),
        "iterations": Variable("int64", -1, "solver iterations summed over the search, "
                               "-1 if not run", "1"),
        "wall_time": Variable("float64", np.nan, "wall time of the search", "s"),
        "status": Variable("int8", TRANSITION_PENDING, "outcome of the search", "1"),
    }
    return Layout(dims, dims, variables, TRANSITION_MEANINGS)


def layout_of(spec: Spec) -> Layout:
    """The layout of a spec's store: :data:`GRID`, or its transition layout."""
    if spec.transition is None:
        return GRID
    return transition_layout(spec.transition.kind, spec.transition.line_dim)
