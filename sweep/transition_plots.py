"""Figures of transition mode: finite-size extrapolation and the N -> infinity phase diagram.

Both take the output of :func:`sweep.extrapolation.extrapolate` (one Dataset per
transition kind) and return a :class:`matplotlib.figure.Figure` built without
pyplot, in the style of :mod:`sweep.plots` (whose RS lines, labels and panel
sizes they share). matplotlib is imported inside the functions, so importing
this module is light.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kernels import rs

from .extrapolation import TRANSITIONS, transition_variable

#: Points of the fitted curve drawn against N^-nu.
CURVE_POINTS = 50
#: Loads of the RS lines of the phase diagram.
THEORY_ALPHA = np.linspace(1e-4, 0.14, 120)
#: Marker size of extrapolated points, points.
MARKER_SIZE = 6.0
#: The labels of the axes a transition is measured along.
AXIS_LABELS = {"alpha": r"load $\alpha$", "T": r"$T$"}
VALUE_LABELS = {"T_M": r"$T_M$ [J]", "alpha_c": r"$\alpha_c$"}


def extrapolation_figure(result, ax=None):
    """Size means of a transition against N^-nu, with the fit, its N -> infinity
    value and the RS value; one panel per line (alpha for T_M, T for alpha_c).

    Parameters
    ----------
    result : xarray.Dataset
        Output of :func:`sweep.extrapolation.extrapolate`.
    ax : Axes or sequence of Axes, optional
        One per line; default a new Figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .plots import _given, _wrapped

    name = transition_variable(result)
    line_dim = TRANSITIONS[name][0]
    lines = result[line_dim].values
    fig, axes = _wrapped(lines.size) if ax is None else _given(ax, lines.size)
    for panel, line in zip(axes.flat, lines, strict=True):
        sel = result.sel({line_dim: line})
        for k, algorithm in enumerate(result["algorithm"].values):
            fit = sel.sel(algorithm=algorithm)
            color = f"C{k}"
            nu, a, b = (float(fit[f"{name}{key}"]) for key in ("_nu", "", "_slope"))
            if not np.isfinite(a):
                continue
            x = result["N"].values.astype(np.float64) ** -nu
            panel.errorbar(x, fit[f"{name}_mean"], fit[f"{name}_mean_err"], fmt="o",
                           color=color, ms=MARKER_SIZE - 1, capsize=3,
                           label=f"{algorithm}: sample means")
            curve = np.linspace(0.0, np.nanmax(x) * 1.05, CURVE_POINTS)
            chi2 = float(fit[f"{name}_chi2_dof"])
            panel.plot(curve, a + b * curve, "-", color=color,
                       label=rf"fit $a + b N^{{-{nu:.2g}}}$, $\chi^2$/dof = {chi2:.2g}")
            panel.errorbar([0.0], [a], [float(fit[f"{name}_err"])], fmt="s", color=color,
                           ms=MARKER_SIZE, capsize=4, label=rf"$N \to \infty$: {a:.4f}")
        theory = float(sel[f"{name}_theory"])
        panel.axhline(theory, color="k", ls="--", lw=1.2, label=f"RS: {theory:.4f}")
        nu_text = result.attrs.get("nu", "")
        panel.set(xlabel=rf"$N^{{-\nu}}$ ($\nu$ = {nu_text})", ylabel=VALUE_LABELS[name],
                  title=f"{line_dim} = {line:g}")
        panel.set_xlim(left=-0.02 * panel.get_xlim()[1])
        panel.legend(fontsize="small")
    return fig


def _retrieval_line(ax) -> None:
    """RS T_g, T_M (parametrised by T, so its re-entrant end is drawn) and T_c."""
    from .plots import _OUTLINE, _THEORY_STYLE

    T = np.linspace(0.0, 1.0, THEORY_ALPHA.size)
    ax.plot(THEORY_ALPHA, rs.spin_glass_temperature(THEORY_ALPHA), lw=1.8,
            path_effects=_OUTLINE, **_THEORY_STYLE["T_g"])
    ax.plot(rs.critical_load(T), T, lw=1.8, path_effects=_OUTLINE, **_THEORY_STYLE["T_M"])
    ax.plot(rs.stability_line(T), T, lw=1.8, path_effects=_OUTLINE, **_THEORY_STYLE["T_c"])


def phase_diagram_figure(results: Sequence, ax=None):
    """The N -> infinity phase diagram: extrapolated T_M(alpha) and alpha_c(T)
    with their error bars over the RS lines T_g, T_M and T_c.

    Parameters
    ----------
    results : sequence of xarray.Dataset
        Outputs of :func:`sweep.extrapolation.extrapolate` (T_M and/or alpha_c).
    ax : Axes, optional
        Default a new Figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .plots import ALPHA_LABEL, T_LABEL, _given, _wrapped

    fig, axes = _wrapped(1) if ax is None else _given(ax, 1)
    panel = axes.flat[0]
    _retrieval_line(panel)
    markers = {"T_M": "o", "alpha_c": "s"}
    for result in results:
        name = transition_variable(result)
        line_dim = TRANSITIONS[name][0]
        for k, algorithm in enumerate(result["algorithm"].values):
            sel = result.sel(algorithm=algorithm)
            value, error = sel[name].values, sel[f"{name}_err"].values
            line = sel[line_dim].values
            label = (rf"{algorithm}: $T_M(\alpha)$, $N\to\infty$" if name == "T_M"
                     else rf"{algorithm}: $\alpha_c(T)$, $N\to\infty$")
            x, y, xerr, yerr = ((line, value, None, error) if name == "T_M"
                                else (value, line, error, None))
            panel.errorbar(x, y, yerr=yerr, xerr=xerr, fmt=markers[name], color=f"C{k}",
                           ms=MARKER_SIZE, capsize=4, mec="k", label=label)
    panel.set(xlabel=ALPHA_LABEL, ylabel=T_LABEL, xlim=(0.0, THEORY_ALPHA[-1]),
              ylim=(0.0, float(rs.spin_glass_temperature(THEORY_ALPHA[-1])) * 1.02),
              title=r"Hopfield phase diagram, extrapolated to $N \to \infty$")
    if ax is None:
        fig.legend(*panel.get_legend_handles_labels(), loc="outside lower center", ncol=2,
                   fontsize="small")
    else:
        panel.legend(fontsize="small")
    return fig


def save_figure(ds, path, **kwargs):
    """Fit a transition store (:func:`sweep.extrapolation.extrapolate`, ``kwargs``) and
    write its :func:`extrapolation_figure` (format from the suffix: png, pdf, svg).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .extrapolation import extrapolate
    from .plots import FIGURE_DPI

    fig = extrapolation_figure(extrapolate(ds, **kwargs))
    fig.savefig(path, dpi=FIGURE_DPI)
    return fig
