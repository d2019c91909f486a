"""Figures of a sweep: phase diagram, overlap curves, convergence map.

Built on :class:`matplotlib.figure.Figure` without pyplot, so they work under
any backend (Agg on a cluster) and leave no global state. Every function takes
a results Dataset (DESIGN.md, "The dataset") and returns the Figure; pass
``ax`` to draw into existing axes. Theory lines come from :mod:`kernels.rs`
through :mod:`sweep.analysis`. Temperatures are in units of J, alpha is
dimensionless.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib import colormaps, patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from kernels import rs

from . import analysis

#: Points of the alpha and T grids on which the RS lines are drawn.
THEORY_POINTS = 60
#: Largest number of alpha panels of ``save_figure(kind="overlap")``.
MAX_OVERLAP_PANELS = 4
#: Panel size, inches.
PANEL_SIZE = (4.8, 3.8)
#: Markers of the system sizes in overlap curves (colours are the algorithms).
N_MARKERS = "osD^vP*X"
#: Legend entries an overlap panel holds inside; more go beside it.
MAX_LEGEND_INSIDE = 8
#: Rows of a legend beside an overlap panel (x-small entries in PANEL_SIZE's height).
MAX_LEGEND_ROWS = 16
#: Figure width factor of save_figure(kind="overlap") when legends go beside panels.
LEGEND_BESIDE_WIDTH = 1.5
#: Most panels in a row of a new phase diagram (more algorithms wrap onto balanced rows).
MAX_COLUMNS = 5

KINDS = ("phase", "overlap", "convergence")

T_LABEL = r"temperature $T$ [J]"
ALPHA_LABEL = r"load $\alpha = P/N$"
_THEORY_STYLE = {
    "T_g": {"color": "tab:red", "ls": "-", "label": r"$T_g = 1+\sqrt{\alpha}$ (RS, spin glass)"},
    "T_M": {"color": "k", "ls": "--", "label": r"$T_M$ (RS, retrieval appears)"},
    "T_c": {"color": "tab:orange", "ls": ":", "label": r"$T_c$ (RS, retrieval stable)"},
}


def _names(ds: xr.Dataset, dim: str) -> list:
    return [v.item() if hasattr(v, "item") else v for v in ds[dim].values]


def _pick_N(ds: xr.Dataset, N: int | None) -> int:
    sizes = [int(n) for n in ds["N"].values]
    if N is None:
        return max(sizes)
    if int(N) not in sizes:
        raise ValueError(f"N: {N} is not in the dataset; choose one of {sizes}")
    return int(N)


def _axes(ax, n: int, rows: int = 1) -> tuple[Figure, np.ndarray]:
    """The given axes (one per panel) or a new Figure with ``rows`` x ``n`` panels."""
    if ax is None:
        fig = Figure(figsize=(PANEL_SIZE[0] * n, PANEL_SIZE[1] * rows), layout="constrained")
        return fig, np.asarray(fig.subplots(rows, n, squeeze=False))
    axes = np.atleast_1d(np.asarray(ax, dtype=object))
    if axes.size != n * rows:
        raise ValueError(
            f"ax: need {n * rows} Axes (one per panel), got {axes.size}; "
            "or pass ax=None for a new figure"
        )
    return axes.flat[0].figure, axes.reshape(rows, n)


#: Half-width of the cell of an axis with one value, relative to that value.
SINGLE_CELL_HALF_WIDTH = 0.1


def cell_edges(values) -> np.ndarray:
    """Edges of the colour-map cells centred on sorted grid ``values`` (n + 1 of them).

    Inner edges are midpoints; the outer cells are as wide as their neighbours.
    An axis with a single value (one T, one alpha) gets a cell of +-10 % of it,
    not the zero-width cell ``pcolormesh(shading="nearest")`` would draw.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 1:
        half = SINGLE_CELL_HALF_WIDTH * abs(values[0]) or SINGLE_CELL_HALF_WIDTH
        return np.array([values[0] - half, values[0] + half])
    mid = (values[1:] + values[:-1]) / 2
    return np.concatenate(
        [[values[0] - (mid[0] - values[0])], mid, [values[-1] + (values[-1] - mid[-1])]]
    )


def _theory_alpha(ds: xr.Dataset) -> np.ndarray:
    top = max(float(ds["alpha"].max()) * 1.05, cell_edges(ds["alpha"].values)[-1])
    return np.linspace(0.0, top, THEORY_POINTS)


#: White outline that keeps theory lines visible on any colour map.
_OUTLINE = [patheffects.withStroke(linewidth=3.5, foreground="w")]
#: Background of cells without any converged seed (NaN seed mean).
EMPTY_COLOR = "0.85"


def _draw_theory(ax: Axes, lines: xr.Dataset) -> None:
    """The RS lines T_g and T_M of ``lines`` (over alpha) and the T_c line."""
    for name in ("T_g", "T_M"):
        ax.plot(lines["alpha"], lines[name], lw=1.8, path_effects=_OUTLINE, **_THEORY_STYLE[name])
    # T_c parametrised by T: T_c(alpha) is double-valued near alpha = 0.052 (the RS
    # line is re-entrant there), and drops to 0 steeper than any alpha grid
    T = np.linspace(0.0, 1.0, 2 * THEORY_POINTS)
    ax.plot(rs.stability_line(T), T, lw=1.8, path_effects=_OUTLINE, **_THEORY_STYLE["T_c"])


def _correlated_kind(ds: xr.Dataset) -> str | None:
    """The pattern model of a store's spec when it is not i.i.d. (the RS theory's), else None."""
    try:
        kind = json.loads(ds.attrs["spec"])["patterns"]["kind"]
    except (KeyError, TypeError, ValueError):  # a Dataset made by hand: nothing to say
        return None
    return None if kind == "iid" else kind


def _note_iid_theory(ax: Axes, ds: xr.Dataset) -> None:
    """A legend line saying the RS theory is that of i.i.d. patterns, when these are not."""
    kind = _correlated_kind(ds)
    if kind is not None:
        ax.plot([], [], " ", label=f"RS lines: i.i.d. patterns (these: {kind})")


def _mark_empty(ax: Axes, label: str) -> None:
    """Grey background, with a legend entry, for cells without data (NaN)."""
    ax.set_facecolor(EMPTY_COLOR)
    ax.add_patch(Rectangle((0, 0), 0, 0, color=EMPTY_COLOR, label=label))


def phase_diagram(
    ds: xr.Dataset,
    ax: Axes | Sequence[Axes] | None = None,
    *,
    N: int | None = None,
    threshold: float = analysis.RETRIEVAL_THRESHOLD,
    n_boot: int = analysis.N_BOOTSTRAP,
    rng=None,
) -> Figure:
    """Seed-averaged overlap over (alpha, T), one panel per algorithm.

    Each panel shows the seed-mean overlap m (converged seeds) as a colour map,
    the measured T_M with bootstrap error bars, and the RS lines T_g, T_M, T_c.

    Parameters
    ----------
    ds : xarray.Dataset
        Results (algorithm, N, alpha, seed, T).
    ax : Axes or sequence of Axes, optional
        One per algorithm; default a new Figure.
    N : int, optional
        System size shown (default the largest).
    threshold, n_boot, rng
        Passed to :func:`sweep.analysis.retrieval_temperature`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    N = _pick_N(ds, N)
    algorithms = _names(ds, "algorithm")
    if ax is None:  # wrap many algorithms onto rows of at most MAX_COLUMNS panels
        rows = -(-len(algorithms) // MAX_COLUMNS)
        fig, grid = _axes(None, -(-len(algorithms) // rows), rows=rows)
        for spare in grid.flat[len(algorithms) :]:
            spare.remove()
        axes = grid.flat[: len(algorithms)]
    else:
        fig, axes = _axes(ax, len(algorithms))
    data = analysis.phase_diagram(
        ds.sel(N=[N]), threshold=threshold, n_boot=n_boot, rng=rng
    ).compute()
    lines = analysis.theory_lines(_theory_alpha(ds), names=("T_g", "T_M"))
    alpha_edges, T_edges = cell_edges(ds["alpha"].values), cell_edges(ds["T"].values)
    # Up to the grid's top or the RS T_g line, whichever is higher.
    top = max(T_edges[-1], float(lines["T_g"].max()) * 1.02)
    for panel, algorithm in zip(np.ravel(axes), algorithms, strict=True):
        sel = data.sel(algorithm=algorithm, N=N)
        _mark_empty(panel, "no converged seed")
        mesh = panel.pcolormesh(
            alpha_edges,
            T_edges,
            sel["m"].transpose("T", "alpha").values,
            shading="flat",
            vmin=0.0,
            vmax=1.0,
            cmap="viridis",
        )
        fig.colorbar(mesh, ax=panel, label=r"seed-mean overlap $m$")
        _draw_theory(panel, lines)
        _note_iid_theory(panel, ds)
        # T_M clipped to the grid's top (retrieval up to the hottest T) is a lower bound
        T_M = sel["T_M"].values
        clipped = np.isclose(T_M, float(ds["T"].max()))
        panel.errorbar(
            sel["alpha"].values[~clipped],
            T_M[~clipped],
            yerr=sel["T_M_err"].values[~clipped],
            fmt="o",
            ms=5,
            color="tab:pink",
            mec="k",
            capsize=3,
            label=rf"measured $T_M$ ($m > {threshold:g}$)"
            if (np.isfinite(T_M) & ~clipped).any() or not clipped.any()
            else "_nolegend_",
        )
        if clipped.any():
            panel.plot(
                sel["alpha"].values[clipped],
                T_M[clipped],
                "^",
                ms=6,
                color="tab:pink",
                mec="k",
                label=r"$T_M$ above the hottest $T$ of the grid",
            )
        panel.set(
            xlabel=ALPHA_LABEL,
            ylabel=T_LABEL,
            title=f"{algorithm}, N = {N}",
            xlim=(lines["alpha"][0], lines["alpha"][-1]),
            ylim=(0.0, top),
        )
        panel.legend(loc="upper right", fontsize="small", framealpha=0.8)
    return fig


def _overlap_legend_entries(ds: xr.Dataset) -> int:
    """Legend entries of an overlap panel: one per curve, or per colour and per marker.

    Two entries more for the RS curve and its T_M line (three with correlated patterns).
    """
    algorithms, sizes = ds.sizes["algorithm"], ds.sizes["N"]
    theory = 2 if _correlated_kind(ds) is None else 3
    if algorithms * sizes <= MAX_LEGEND_INSIDE - theory or min(algorithms, sizes) == 1:
        return algorithms * sizes + theory
    return algorithms + sizes + theory


def overlap_curves(ds: xr.Dataset, alpha: float, ax: Axes | None = None) -> Figure:
    """Overlap m(T) at fixed alpha for every algorithm and N, against the RS curve.

    Parameters
    ----------
    ds : xarray.Dataset
        Results.
    alpha : float
        Load (the nearest one in the dataset is used).
    ax : Axes, optional
        Default a new Figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _axes(ax, 1)
    panel = axes.flat[0]
    at = ds.sel(alpha=alpha, method="nearest")
    alpha_used = float(at["alpha"])
    means = analysis.seed_mean(at, "m").compute()
    algorithms = _names(ds, "algorithm")
    sizes = [int(N) for N in ds["N"].values]
    colors = colormaps["tab10" if len(algorithms) <= 10 else "tab20"].colors
    markers = dict(zip(sizes, itertools.cycle(N_MARKERS), strict=False))
    # one colour per algorithm, one marker per N: no two curves look alike; with
    # many curves the legend lists the colours and the markers, not every pair
    theory = 2 if _correlated_kind(ds) is None else 3
    each_curve = _overlap_legend_entries(ds) == len(algorithms) * len(sizes) + theory
    for index, algorithm in enumerate(algorithms):
        color = colors[index % len(colors)]
        for N in sizes:
            sel = means.sel(algorithm=algorithm, N=N)
            panel.errorbar(
                sel["T"],
                sel["m"],
                yerr=sel["m_err"],
                fmt=f"{markers[N]}-",
                color=color,
                ms=4,
                capsize=2,
                label=f"{algorithm}, N = {N}" if each_curve else "_nolegend_",
            )
        if not each_curve:
            panel.plot([], [], "-", color=color, label=algorithm)
    if not each_curve:
        for N in sizes:
            panel.plot([], [], markers[N], color="0.35", ls="none", label=f"N = {N}")
    T_fine = np.linspace(0.0, float(ds["T"].max()), 4 * THEORY_POINTS)
    panel.plot(
        T_fine,
        analysis.theory_overlap(alpha_used, T_fine)[0],
        "k-",
        lw=1.5,
        label="RS theory $m(T)$",
    )
    T_M = analysis.theory_lines(alpha_used, names=("T_M",))["T_M"].values[0]
    if np.isfinite(T_M):
        panel.axvline(T_M, color="k", ls="--", lw=1, label=rf"RS $T_M = {T_M:.3f}$")
    else:
        # above alpha_c (and its small RS re-entrance) no retrieval state exists at any T
        panel.plot([], [], " ", label=r"RS: no retrieval at this $\alpha$")
    _note_iid_theory(panel, ds)
    panel.set(
        xlabel=T_LABEL,
        ylabel=r"overlap $m$ (seed mean, converged)",
        title=rf"$\alpha = {alpha_used:g}$",
        ylim=(-0.05, 1.05),
    )
    entries = len(panel.get_legend_handles_labels()[1])
    if entries > MAX_LEGEND_INSIDE:  # beside the panel (save_figure widens the figure)
        columns = -(-entries // MAX_LEGEND_ROWS)
        panel.legend(
            fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0), ncols=columns
        )
    else:
        panel.legend(fontsize="small")
    return fig


def convergence_map(
    ds: xr.Dataset, ax: Sequence[Axes] | None = None, *, N: int | None = None
) -> Figure:
    """Mean iterations and fraction of converged seeds over (alpha, T), per algorithm.

    Top row: iterations (seed mean over points that ran); bottom row: fraction
    of seeds with status converged. The RS T_M line is drawn on every panel:
    iterative solvers slow down and fail near it.

    Parameters
    ----------
    ds : xarray.Dataset
        Results.
    ax : sequence of Axes, optional
        2 x n_algorithms axes; default a new Figure.
    N : int, optional
        System size shown (default the largest).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .store import FAILED, PENDING

    N = _pick_N(ds, N)
    algorithms = _names(ds, "algorithm")
    fig, axes = _axes(ax, len(algorithms), rows=2)
    at = ds.sel(N=N)
    ran = (at["status"] != PENDING) & (at["status"] != FAILED)
    iterations = at["iterations"].where(ran).mean("seed").compute()
    converged = analysis.usable(at).mean("seed").compute()
    lines = analysis.theory_lines(_theory_alpha(ds), names=("T_M",))
    alpha_edges, T_edges = cell_edges(ds["alpha"].values), cell_edges(ds["T"].values)
    for column, algorithm in enumerate(algorithms):
        for row, (values, label, cmap) in enumerate(
            (
                (iterations, "iterations (seed mean)", "magma"),
                (converged, "fraction of seeds converged", "RdYlGn"),
            )
        ):
            panel = axes[row, column]
            field = values.sel(algorithm=algorithm).transpose("T", "alpha")
            limits = {"vmin": 0.0, "vmax": 1.0} if row == 1 else {}
            _mark_empty(panel, "not run (pending or failed)")
            mesh = panel.pcolormesh(
                alpha_edges, T_edges, field.values, shading="flat", cmap=cmap, **limits
            )
            fig.colorbar(mesh, ax=panel, label=label)
            panel.plot(
                lines["alpha"], lines["T_M"], "c--", lw=1.5, label=r"$T_M$ (RS, retrieval appears)"
            )
            panel.set(
                xlabel=ALPHA_LABEL,
                ylabel=T_LABEL,
                title=f"{algorithm}, N = {N}",
                xlim=(lines["alpha"][0], lines["alpha"][-1]),
                ylim=(0.0, T_edges[-1]),
            )
            panel.legend(loc="upper right", fontsize="small", framealpha=0.8)
    return fig


def save_figure(ds: xr.Dataset, path: str | os.PathLike, kind: str = "phase", **kwargs) -> Figure:
    """Draw one kind of figure and write it (format from the suffix: png, pdf, svg).

    Parameters
    ----------
    ds : xarray.Dataset
        Results.
    path : path-like
        Output file.
    kind : {"phase", "overlap", "convergence"}
        :func:`phase_diagram`, :func:`overlap_curves` (one panel per alpha, at most
        four alphas spread over the grid, unless ``alpha=`` is given) or
        :func:`convergence_map`.
    **kwargs
        Passed to the drawing function.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if kind not in KINDS:
        raise ValueError(f"kind: must be one of {KINDS}, got {kind!r}")
    if kind == "phase":
        fig = phase_diagram(ds, **kwargs)
    elif kind == "convergence":
        fig = convergence_map(ds, **kwargs)
    else:
        alphas = kwargs.pop("alpha", None)
        if alphas is None:
            grid = ds["alpha"].values
            picks = np.unique(np.linspace(0, grid.size - 1, MAX_OVERLAP_PANELS).round())
            alphas = grid[picks.astype(int)]
        alphas = np.atleast_1d(alphas)
        fig, axes = _axes(None, alphas.size)
        if _overlap_legend_entries(ds) > MAX_LEGEND_INSIDE:  # room for legends beside panels
            width, height = fig.get_size_inches()
            fig.set_size_inches(width * LEGEND_BESIDE_WIDTH, height)
        for panel, alpha in zip(axes.flat, alphas, strict=True):
            overlap_curves(ds, float(alpha), ax=panel, **kwargs)
    fig.savefig(path, dpi=120)
    return fig
