"""The cross-checks of a ``[transition]`` table: its keys together, and with the grid.

Part of config validation (:mod:`sweep.config`, which reports the problems):
a transition config brackets one axis (``T`` for retrieval_temperature,
``alpha`` for critical_load), which the grid must then leave out; critical_load
nests the patterns of a sample, which only iid patterns do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kernels.patterns import n_patterns

from .keys import CONSTRAINTS
from .rules import problem
from .spec import TRANSITION_KINDS


def searched_axis(flat: Mapping[str, Any]) -> str | None:
    """The grid key a transition config leaves out (``grid.T`` or ``grid.alpha``), or None."""
    kind = flat.get("transition.kind")
    return f"grid.{TRANSITION_KINDS[kind][1]}" if kind in TRANSITION_KINDS else None


def transition_checks(flat: Mapping[str, Any], values: dict[str, Any],
                       problems: list[str]) -> None:
    """The keys of ``[transition]`` together, and with the grid and the patterns."""
    given = sorted(k for k in flat if k.startswith("transition."))
    kind = values["transition.kind"]
    if kind is None:  # (a [transition] table without kind is reported by parse_spec)
        return
    line, searched = TRANSITION_KINDS[kind]
    if f"grid.{searched}" in flat:
        problems.append(problem(
            f"grid.{searched}", f"is no axis with transition.kind = '{kind}' (the transition is "
            f"searched for within transition.{searched})", flat[f"grid.{searched}"],
            f"remove grid.{searched}; set the bracket {searched} = {{ lo, hi }} in [transition]"))
    for key in given:
        if key.startswith(f"transition.{line}."):
            problems.append(problem(key, f"is no key of kind '{kind}', which brackets "
                                    f"{searched}", flat[key], "remove it, or set kind to the "
                                    "other transition"))
    required = [f"transition.{searched}.lo", f"transition.{searched}.hi", "transition.precision"]
    missing = [key for key in required if values[key] is None]
    for key in missing:
        problems.append(problem(key, f"is required with transition.kind = '{kind}'", None,
                                CONSTRAINTS[key].fix))
    if missing:
        return
    lo, hi = values[required[0]], values[required[1]]
    precision = values["transition.precision"]
    if not lo < hi:
        problems.append(problem(f"transition.{searched}", "needs lo < hi",
                                {"lo": lo, "hi": hi}, "swap lo and hi" if lo > hi
                                else "widen the bracket"))
    elif not precision < hi - lo:
        problems.append(problem("transition.precision", f"must be below the bracket's width "
                                f"{hi - lo:g}", precision,
                                f"e.g. precision = {(hi - lo) / 500:.2g}"))
    if values["output.sites"]:
        problems.append(problem("output.sites", "has nothing to store in transition mode (one "
                                "value per sample, no per-neuron state)", True,
                                "remove it or set sites = false"))
    if kind == "critical_load":
        if values["patterns.kind"] != "iid":
            problems.append(problem(
                "patterns.kind", "critical_load nests the patterns of a sample (load alpha "
                "uses the first round(alpha N) rows of one matrix), which only iid patterns do",
                values["patterns.kind"], 'use kind = "iid"'))
        N = values["grid.N"]
        if N and n_patterns(N[0], lo) < 1:
            problems.append(problem("transition.alpha.lo", f"rounds to P = 0 patterns at "
                                    f"N = {N[0]}", lo, f"use lo >= {1.5 / N[0]:.3g}"))
