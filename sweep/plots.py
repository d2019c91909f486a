"""Figures of a sweep: phase diagram, overlap curves, convergence map, basin map.

Built on :class:`matplotlib.figure.Figure` without pyplot, so they work under
any backend (Agg on a cluster) and leave no global state. Every function takes
a results Dataset (DESIGN.md, "The dataset") and returns the Figure; pass
``ax`` to draw into existing axes. Theory lines come from :mod:`kernels.rs`
through :mod:`sweep.analysis`. Temperatures are in units of J, alpha is
dimensionless.

A new figure has its panels on a grid of at most :data:`MAX_COLUMNS` columns,
one legend below them (outside the data) and, when there is something to say
(points still pending, a subset of the loads), a title over them. Drawn into
given axes, each panel gets its own legend and the caller's figure is left alone.
The replica-symmetric lines are those of zero field and i.i.d. patterns: over a
run with a field they are left out, and the legend says why.

One module of about 900 lines because the figures share their layout, legend,
cell map, pending-cell and theory-line helpers; each figure is one section below.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib import colormaps, patheffects
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.textpath import TextPath

from kernels import rs
from kernels.status import FAILED, INVALID, PENDING

from . import analysis, crossings
from .spec import Spec, spec_from_canonical

#: Points of the alpha and T grids on which the RS lines are drawn.
THEORY_POINTS = 60
#: Loads of ``save_figure(kind="overlap")`` without ``alpha=``: every one up to this
#: many, else this many spread evenly over the grid.
MAX_OVERLAP_PANELS = 6
#: Resolution of saved figures, dots per inch.
FIGURE_DPI = 120
#: Panel size, inches.
PANEL_SIZE = (4.8, 3.8)
#: Markers of the system sizes in overlap curves (colours are the algorithms).
N_MARKERS = "osD^vP*X"
#: Curves of an overlap panel listed one by one in the legend; with more (and more
#: than one algorithm and size) the legend lists the colours and the markers instead.
MAX_CURVE_ENTRIES = 6
#: Most panels in a row of a new figure (more wrap onto balanced rows).
MAX_COLUMNS = 3
#: Font size of legends and notes, points.
LEGEND_FONTSIZE = 9.0
#: Width of a legend entry beyond its text (handle, gaps), in font sizes.
LEGEND_ENTRY_EXTRA = 4.5
#: Height of a legend row (text and spacing), in font sizes.
LEGEND_ROW_HEIGHT = 1.7
#: Relative tolerance of a requested load at the ends of the grid.
LOAD_TOLERANCE = 1e-9
#: gid of the legend entries that are notes (no artist): listed after the others.
NOTE = "note"

KINDS = ("phase", "overlap", "convergence", "basins")

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


# --------------------------------------------------------------------------- #
# Layout: panels, legends, titles
# --------------------------------------------------------------------------- #


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns) of ``n`` panels: at most MAX_COLUMNS columns, rows as full as possible."""
    rows = -(-n // MAX_COLUMNS)
    return rows, -(-n // rows)


def _new_figure(rows: int, columns: int) -> tuple[Figure, np.ndarray]:
    """A constrained-layout Figure with a (rows, columns) array of Axes."""
    fig = Figure(figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows), layout="constrained")
    return fig, np.asarray(fig.subplots(rows, columns, squeeze=False))


def _wrapped(n: int, stack: int = 1) -> tuple[Figure, np.ndarray]:
    """A new Figure for ``n`` items of ``stack`` panels each (one above the other),
    wrapped onto :func:`grid_shape` rows; returns the panels as (stack, n), spares removed."""
    rows, columns = grid_shape(n)
    fig, grid = _new_figure(rows * stack, columns)
    panels = np.empty((stack, n), dtype=object)
    for item in range(n):
        row, column = divmod(item, columns)
        panels[:, item] = grid[row * stack : (row + 1) * stack, column]
    for spare in range(n, rows * columns):
        row, column = divmod(spare, columns)
        for panel in grid[row * stack : (row + 1) * stack, column]:
            panel.remove()
    return fig, panels


def _given(ax, n: int, stack: int = 1) -> tuple[Figure, np.ndarray]:
    """The given axes, one per panel, as (stack, n)."""
    axes = np.atleast_1d(np.asarray(ax, dtype=object))
    if axes.size != n * stack:
        raise ValueError(
            f"ax: need {n * stack} Axes (one per panel), got {axes.size}; "
            "or pass ax=None for a new figure"
        )
    return axes.flat[0].figure, axes.reshape(stack, n)


def _algorithm_panels(ds: xr.Dataset, ax, N: int | None, stack: int = 1
                      ) -> tuple[int, list, Figure, np.ndarray]:
    """The size drawn, the algorithms, and ``stack`` panels per algorithm: a new Figure
    (``ax`` None) or the given axes."""
    N = _pick_N(ds, N)
    algorithms = _names(ds, "algorithm")
    n = len(algorithms)
    fig, axes = _wrapped(n, stack) if ax is None else _given(ax, n, stack)
    return N, algorithms, fig, axes


def _label_width(label: str) -> float:
    """Width in points of a legend label at LEGEND_FONTSIZE (mathtext included)."""
    path = TextPath((0, 0), label, size=LEGEND_FONTSIZE, prop=FontProperties())
    return path.get_extents().width if len(path.vertices) else 0.0


def _entries(panels: Sequence[Axes]) -> dict[str, object]:
    """Legend label -> handle over all panels, each label once: measured data (error
    bars) first, then lines and cells, notes (:data:`NOTE`) last."""
    entries: dict[str, object] = {}
    for panel in panels:
        for handle, label in zip(*panel.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)

    def rank(item: tuple[str, object]) -> int:
        handle = item[1]
        if isinstance(handle, ErrorbarContainer):
            return 0
        return 2 if isinstance(handle, Artist) and handle.get_gid() == NOTE else 1

    return dict(sorted(entries.items(), key=rank))


def _legend_below(fig: Figure, panels: Sequence[Axes]) -> None:
    """One legend below all panels: each label once, in as many columns as fit the width."""
    entries = _entries(panels)
    if not entries:
        return
    widest = max(_label_width(label) for label in entries) + LEGEND_ENTRY_EXTRA * LEGEND_FONTSIZE
    columns = int(max(1, min(len(entries), fig.get_figwidth() * 72 // widest)))
    rows = -(-len(entries) // columns)
    # a taller figure, not shorter panels
    height = (rows * LEGEND_ROW_HEIGHT + 1) * LEGEND_FONTSIZE / 72
    fig.set_size_inches(fig.get_figwidth(), fig.get_figheight() + height)
    fig.legend(
        list(entries.values()),
        list(entries),
        loc="outside lower center",
        ncols=columns,
        fontsize=LEGEND_FONTSIZE,
        frameon=False,
    )


def _finish(fig: Figure, panels: Sequence[Axes], own: bool, notes: Sequence[str]) -> Figure:
    """Legend and ``notes``: below and over a new figure, or in each given panel's legend."""
    title = "; ".join(notes) or None
    if own:
        _legend_below(fig, panels)
        if title:
            fig.suptitle(title, fontsize="medium")
        return fig
    for panel in panels:
        entries = _entries([panel])
        if entries:
            panel.legend(list(entries.values()), list(entries), title=title,
                         fontsize=LEGEND_FONTSIZE, title_fontsize=LEGEND_FONTSIZE, framealpha=0.8)
    return fig


# --------------------------------------------------------------------------- #
# Cells: colour map, no data, pending
# --------------------------------------------------------------------------- #


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
#: Cells without any usable value (no converged seed, or not run).
EMPTY_COLOR = "0.8"
#: Cells whose points are still pending: white, hatched in PENDING_EDGE.
PENDING_COLOR = "white"
PENDING_HATCH = "///"
PENDING_EDGE = "tab:blue"
PENDING_LABEL = "pending: not computed yet"
#: Cells with a seed whose state is ``invalid`` (the equations hold outside the
#: method's domain, e.g. the TAP paramagnet below T_g): cross-hatched over their colour.
INVALID_HATCH = "xx"
INVALID_EDGE = "tab:purple"
INVALID_LABEL = "invalid: a seed's fixed point lies outside the method's domain"


def _pending_share(status: xr.DataArray) -> float:
    """Fraction of the points of ``status`` (any shape) that are pending."""
    return float((status == PENDING).mean())


def _pending_notes(N: int, status: xr.DataArray) -> list[str]:
    """The title note of a map at size N whose ``status`` holds pending points, else []."""
    share = _pending_share(status)
    return [f"N = {N}: {_percent(share)} of the points pending"] if share else []


def _percent(share: float) -> str:
    """A share as a percentage that is never rounded to 0 % or 100 % when it is not."""
    percent = 100 * share
    if 0 < percent < 1 or 99 < percent < 100:
        return f"{percent:.1f} %"
    return f"{percent:.0f} %"


def _hatch(panel: Axes, edges: tuple[np.ndarray, np.ndarray], where: np.ndarray,
           **style) -> None:
    """Hatch the (alpha, T) cells where ``where`` (shape (K, A), bool) is True.

    ``style``: PolyCollection keywords (hatch, edgecolors, facecolors, label).
    """
    alpha_edges, T_edges = edges
    rows, columns = np.nonzero(where)
    if not rows.size:
        return
    corners = [
        [
            (alpha_edges[c], T_edges[r]),
            (alpha_edges[c + 1], T_edges[r]),
            (alpha_edges[c + 1], T_edges[r + 1]),
            (alpha_edges[c], T_edges[r + 1]),
        ]
        for r, c in zip(rows, columns, strict=True)
    ]
    panel.add_collection(PolyCollection(corners, linewidths=0.0, **{"facecolors": "none",
                                                                     **style}))


def _cells(
    panel: Axes,
    edges: tuple[np.ndarray, np.ndarray],
    values: np.ndarray,
    pending: np.ndarray,
    empty_label: str,
    **mesh_kwargs,
):
    """Colour map of ``values`` over the (alpha, T) cells, with empty and pending cells marked.

    Parameters
    ----------
    panel : Axes
    edges : (ndarray of shape (A + 1,), ndarray of shape (K + 1,))
        Cell edges along alpha and T.
    values : ndarray of shape (K, A)
        NaN where a cell has no value; those cells are grey (``empty_label``) ...
    pending : ndarray of shape (K, A), bool
        ... or, where True (some seed of the cell is pending), white and hatched
        (:data:`PENDING_LABEL`).
    **mesh_kwargs
        Passed to ``pcolormesh`` (cmap, vmin, vmax).

    Returns
    -------
    matplotlib.collections.QuadMesh
    """
    alpha_edges, T_edges = edges
    pending = np.isnan(values) & pending
    empty = np.isnan(values) & ~pending
    panel.add_patch(
        Rectangle(
            (alpha_edges[0], T_edges[0]),
            alpha_edges[-1] - alpha_edges[0],
            T_edges[-1] - T_edges[0],
            color=EMPTY_COLOR,
            zorder=0.5,
            label=empty_label if empty.any() else "_nolegend_",
        )
    )
    mesh = panel.pcolormesh(alpha_edges, T_edges, values, shading="flat", **mesh_kwargs)
    _hatch(panel, edges, pending, facecolors=PENDING_COLOR, edgecolors=PENDING_EDGE,
           hatch=PENDING_HATCH, label=PENDING_LABEL)
    return mesh


# --------------------------------------------------------------------------- #
# Theory: which RS lines apply
# --------------------------------------------------------------------------- #


def _spec(ds: xr.Dataset) -> Spec | None:
    """The store's spec (its ``spec`` attribute), or None for a Dataset made by hand."""
    try:
        return spec_from_canonical(ds.attrs["spec"])
    except (KeyError, TypeError, ValueError):
        return None


def _correlated_kind(ds: xr.Dataset) -> str | None:
    """The pattern model of a store's spec when it is not i.i.d. (the RS theory's), else None."""
    spec = _spec(ds)
    return None if spec is None or spec.patterns_kind == "iid" else spec.patterns_kind


def field_strength(ds: xr.Dataset) -> float:
    """Strength h of the field along pattern 0 recorded in the store's spec (0 if none)."""
    spec = _spec(ds)
    return 0.0 if spec is None else float(spec.options.field)


def _rs_applies(ds: xr.Dataset) -> bool:
    """Whether the zero-field RS lines describe this run (kernels.rs has no field)."""
    return field_strength(ds) == 0.0


def _note_theory(ax: Axes, ds: xr.Dataset) -> None:
    """A legend line saying why RS lines are absent (field), or that they are for i.i.d.
    patterns when these are not."""
    kind = _correlated_kind(ds)
    if not _rs_applies(ds):
        h = field_strength(ds)
        ax.plot([], [], " ", gid=NOTE, label=f"RS lines are for h = 0; this run has h = {h:g}")
    elif kind is not None:
        ax.plot([], [], " ", gid=NOTE, label=f"RS lines: i.i.d. patterns (these: {kind})")


def _draw_theory(ax: Axes, lines: xr.Dataset) -> None:
    """The RS lines T_g and T_M of ``lines`` (over alpha) and the T_c line."""
    for name in ("T_g", "T_M"):
        ax.plot(lines["alpha"], lines[name], lw=1.8, path_effects=_OUTLINE, **_THEORY_STYLE[name])
    ax.plot(*_stability_curve(), lw=1.8, path_effects=_OUTLINE, **_THEORY_STYLE["T_c"])


@functools.cache
def _stability_curve() -> tuple[np.ndarray, np.ndarray]:
    """(alpha, T) of the RS T_c line, computed once per process (1.6 s): the same in
    every panel and figure.

    Parametrised by T: T_c(alpha) is double-valued near alpha = 0.052 (the RS line
    is re-entrant there), and drops to 0 steeper than any alpha grid.
    """
    T = np.linspace(0.0, 1.0, 2 * THEORY_POINTS)
    return rs.stability_line(T), T


# --------------------------------------------------------------------------- #
# Phase diagram
# --------------------------------------------------------------------------- #


def _draw_measured_T_M(panel: Axes, sel: xr.Dataset, T_top: float, threshold: float) -> None:
    """Measured T_M with bootstrap error bars; where retrieval lasts up to the grid's top
    temperature ``T_top`` (T_M only a lower bound, ``T_M_bound``), a ^ there."""
    T_M = sel["T_M"].values
    clipped = sel["T_M_bound"].values == crossings.LOWER_BOUND
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
            np.full(clipped.sum(), T_top),
            "^",
            ms=6,
            color="tab:pink",
            mec="k",
            label=r"$T_M$ above the hottest $T$ of the grid",
        )


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
    grey where no seed converged and hatched where points are still pending, the
    measured T_M with bootstrap error bars, and the RS lines T_g, T_M, T_c (left
    out, with a note, when the run has a field).

    Parameters
    ----------
    ds : xarray.Dataset
        Results (algorithm, N, alpha, seed, T).
    ax : Axes or sequence of Axes, optional
        One per algorithm; default a new Figure (panels on rows of at most
        MAX_COLUMNS, one legend below them).
    N : int, optional
        System size shown (default the largest).
    threshold, n_boot, rng
        Passed to :func:`sweep.analysis.retrieval_temperature`.

    Returns
    -------
    matplotlib.figure.Figure
    """

    N, algorithms, fig, axes = _algorithm_panels(ds, ax, N)
    data = analysis.phase_diagram(
        ds.sel(N=[N]), threshold=threshold, n_boot=n_boot, rng=rng
    ).compute()
    status = ds["status"].sel(N=N).load()
    pending = (status == PENDING).any("seed")
    alpha_edges, T_edges = cell_edges(ds["alpha"].values), cell_edges(ds["T"].values)
    lines = analysis.theory_lines(_theory_alpha(ds), names=("T_g", "T_M"))
    # up to the grid's top or the RS T_g line (when drawn), whichever is higher
    top = max(T_edges[-1], float(lines["T_g"].max()) * 1.02 if _rs_applies(ds) else 0.0)
    for panel, algorithm in zip(axes.flat, algorithms, strict=True):
        sel = data.sel(algorithm=algorithm, N=N)
        m = sel["m"].transpose("T", "alpha").values
        mesh = _cells(
            panel,
            (alpha_edges, T_edges),
            m,
            pending.sel(algorithm=algorithm).transpose("T", "alpha").values,
            "no converged seed",
            vmin=0.0,
            vmax=1.0,
            cmap="viridis",
        )
        fig.colorbar(mesh, ax=panel, label=r"seed-mean overlap $m$")
        if _rs_applies(ds):
            _draw_theory(panel, lines)
        _note_theory(panel, ds)
        _draw_measured_T_M(panel, sel, float(ds["T"].max()), threshold)
        panel.set(
            xlabel=ALPHA_LABEL,
            ylabel=T_LABEL,
            title=f"{algorithm}, N = {N}",
            xlim=(lines["alpha"][0], lines["alpha"][-1]),
            ylim=(0.0, top),
        )
    return _finish(fig, list(axes.flat), ax is None, _pending_notes(N, status))


# --------------------------------------------------------------------------- #
# Overlap curves
# --------------------------------------------------------------------------- #


def overlap_loads(ds: xr.Dataset, alpha=None) -> np.ndarray:
    """The loads of the grid an overlap figure shows.

    Parameters
    ----------
    ds : xarray.Dataset
        Results.
    alpha : float or sequence of float, optional
        Requested loads, each replaced by the nearest grid load. Default: every
        load of the grid if there are at most MAX_OVERLAP_PANELS, else that many
        spread evenly over it.

    Returns
    -------
    ndarray of shape (L,)
        Distinct grid loads, ascending.

    Raises
    ------
    ValueError
        A requested load outside the grid's range (the message names ``alpha`` and the range).
    """
    grid = np.sort(np.asarray(ds["alpha"].values, dtype=float))
    if alpha is None:
        picks = np.linspace(0, grid.size - 1, min(grid.size, MAX_OVERLAP_PANELS)).round()
        return grid[np.unique(picks.astype(int))]
    wanted = np.atleast_1d(np.asarray(alpha, dtype=float))
    slack = LOAD_TOLERANCE * max(abs(grid[0]), abs(grid[-1]))
    inside = (wanted >= grid[0] - slack) & (wanted <= grid[-1] + slack)
    outside = wanted[~inside]  # NaN too
    if outside.size:
        raise ValueError(
            f"alpha: {', '.join(f'{a:g}' for a in outside)} outside the grid's loads "
            f"{grid[0]:g} to {grid[-1]:g} (choose loads in that range)"
        )
    return np.unique(grid[np.abs(grid[None, :] - wanted[:, None]).argmin(axis=1)])


def _each_curve(ds: xr.Dataset) -> bool:
    """Whether the legend lists every (algorithm, N) curve, not colours and markers apart."""
    algorithms, sizes = ds.sizes["algorithm"], ds.sizes["N"]
    return algorithms * sizes <= MAX_CURVE_ENTRIES or min(algorithms, sizes) == 1


def _draw_rs_overlap(panel: Axes, ds: xr.Dataset, alpha: float) -> str:
    """The RS curve m(T) and T_M line at ``alpha``; returns the T_M text for the title."""
    if not _rs_applies(ds):
        return ""
    T_fine = np.linspace(0.0, float(ds["T"].max()), 4 * THEORY_POINTS)
    panel.plot(
        T_fine,
        analysis.theory_overlap(alpha, T_fine)[0],
        "k-",
        lw=1.5,
        label="RS theory $m(T)$",
    )
    T_M = analysis.theory_lines(alpha, names=("T_M",))["T_M"].values[0]
    if not np.isfinite(T_M):
        # above alpha_c (and its small RS re-entrance) no retrieval state exists at any T
        return ", RS: no retrieval"
    panel.axvline(T_M, color="k", ls="--", lw=1, label=r"RS $T_M$ (retrieval appears)")
    return rf", RS $T_M = {T_M:.3f}$"


def _draw_overlap(panel: Axes, ds: xr.Dataset, alpha: float) -> None:
    """One overlap panel: m(T) of every algorithm and N at the grid load nearest ``alpha``."""
    at = ds.sel(alpha=alpha, method="nearest")
    alpha_used = float(at["alpha"])
    means = analysis.seed_mean(at, "m").compute()
    algorithms = _names(ds, "algorithm")
    sizes = [int(N) for N in ds["N"].values]
    colors = colormaps["tab10" if len(algorithms) <= 10 else "tab20"].colors
    markers = dict(zip(sizes, itertools.cycle(N_MARKERS), strict=False))
    # one colour per algorithm, one marker per N: no two curves look alike; with
    # many curves the legend lists the colours and the markers, not every pair
    each_curve = _each_curve(ds)
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
    theory = _draw_rs_overlap(panel, ds, alpha_used)
    _note_theory(panel, ds)
    panel.set(
        xlabel=T_LABEL,
        ylabel=r"overlap $m$ (seed mean, converged)",
        title=rf"$\alpha = {alpha_used:g}${theory}",
        ylim=(-0.05, 1.05),
    )


def _overlap_notes(ds: xr.Dataset, alphas: np.ndarray) -> list[str]:
    """Title notes of an overlap figure: which loads it shows (when not all of them),
    how much is pending."""
    total = ds.sizes["alpha"]
    notes = [] if alphas.size == total else [f"{alphas.size} of the {total} loads of the grid"]
    share = _pending_share(ds["status"].sel(alpha=alphas, method="nearest"))
    if share:
        notes.append(f"{_percent(share)} of these points pending (no curve yet)")
    return notes


def overlap_curves(ds: xr.Dataset, alpha: float, ax: Axes | None = None) -> Figure:
    """Overlap m(T) at fixed alpha for every algorithm and N, against the RS curve.

    The RS curve m(T) and its T_M (given in the title) are those of zero field;
    over a run with a field they are left out, with a note in the legend.

    Parameters
    ----------
    ds : xarray.Dataset
        Results.
    alpha : float
        Load (the nearest one in the dataset is used).
    ax : Axes, optional
        Default a new Figure (legend below the panel).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _new_figure(1, 1) if ax is None else _given(ax, 1)
    _draw_overlap(axes.flat[0], ds, alpha)
    return _finish(fig, [axes.flat[0]], ax is None, [])


def _overlap_figure(ds: xr.Dataset, alpha=None) -> Figure:
    """One overlap panel per load of :func:`overlap_loads`, on a grid, one legend below."""
    alphas = overlap_loads(ds, alpha)
    fig, panels = _wrapped(alphas.size)
    for panel, load in zip(panels.flat, alphas, strict=True):
        _draw_overlap(panel, ds, float(load))
    return _finish(fig, list(panels.flat), True, _overlap_notes(ds, alphas))


# --------------------------------------------------------------------------- #
# Convergence map
# --------------------------------------------------------------------------- #


def _iterative(algorithm: str) -> bool:
    """Whether an algorithm's iteration count means something (it reads ``max_iter``).

    Monte Carlo runs a fixed number of sweeps and exact enumeration none; a name
    the registry does not know (a Dataset made by hand) counts as iterative.
    """
    from kernels.registry import ALGORITHMS

    known = ALGORITHMS.get(algorithm)
    return known is None or "max_iter" in known.reads


def _not_applicable(panel: Axes, title: str, iterations: np.ndarray) -> None:
    """An iterations panel of a method without iterations: no axes, a sentence saying so."""
    counts = np.unique(iterations[np.isfinite(iterations)])
    fixed = f"{counts[0]:g} at every point: " if counts.size == 1 else ""
    panel.set_axis_off()
    panel.text(
        0.5,
        0.5,
        f"{title}\n\niterations: not applicable\n({fixed}a number fixed by the method,\n"
        "not a measure of convergence)",
        ha="center",
        va="center",
        transform=panel.transAxes,
    )


def convergence_map(
    ds: xr.Dataset, ax: Sequence[Axes] | None = None, *, N: int | None = None
) -> Figure:
    """Mean iterations and fraction of converged seeds over (alpha, T), per algorithm.

    Upper panel of each algorithm: iterations (seed mean over points that ran;
    for methods whose count is fixed, Monte Carlo and exact enumeration, a note
    instead). Lower panel: fraction of the computed seeds with status converged;
    cells where some seed is ``invalid`` (a fixed point outside the method's
    domain, which is not counted as converged) are cross-hatched in
    :data:`INVALID_EDGE`. Cells with no computed seed are hatched (pending) or grey (failed). The RS
    T_M line is drawn on every panel (not over a run with a field): iterative
    solvers slow down and fail near it.

    Parameters
    ----------
    ds : xarray.Dataset
        Results.
    ax : sequence of Axes, optional
        2 x n_algorithms axes (iterations above, converged below); default a new
        Figure, with the algorithms on rows of at most MAX_COLUMNS.
    N : int, optional
        System size shown (default the largest).

    Returns
    -------
    matplotlib.figure.Figure
    """

    N, algorithms, fig, axes = _algorithm_panels(ds, ax, N, stack=2)
    at = ds.sel(N=N)
    status = at["status"].load()
    computed = status != PENDING
    ran = computed & (status != FAILED)
    iterations = at["iterations"].where(ran).mean("seed").compute()
    converged = analysis.usable(at).where(computed).mean("seed").compute()
    pending = (~computed).any("seed")
    invalid = (status == INVALID).any("seed")
    lines = analysis.theory_lines(_theory_alpha(ds), names=("T_M",))
    alpha_edges, T_edges = cell_edges(ds["alpha"].values), cell_edges(ds["T"].values)
    for column, algorithm in enumerate(algorithms):
        title = f"{algorithm}, N = {N}"
        for row, (values, label, cmap) in enumerate(
            (
                (iterations, "iterations (seed mean)", "magma"),
                (converged, "fraction of seeds converged", "RdYlGn"),
            )
        ):
            panel = axes[row, column]
            field = values.sel(algorithm=algorithm).transpose("T", "alpha").values
            if row == 0 and not _iterative(algorithm):
                _not_applicable(panel, title, field)
                continue
            limits = {"vmin": 0.0, "vmax": 1.0} if row == 1 else {}
            mesh = _cells(
                panel,
                (alpha_edges, T_edges),
                field,
                pending.sel(algorithm=algorithm).transpose("T", "alpha").values,
                "no seed ran (failed)",
                cmap=cmap,
                **limits,
            )
            if row == 1:
                _hatch(panel, (alpha_edges, T_edges),
                       invalid.sel(algorithm=algorithm).transpose("T", "alpha").values,
                       edgecolors=INVALID_EDGE, hatch=INVALID_HATCH, label=INVALID_LABEL)
            if np.isfinite(field).any():  # no colour scale for a panel without values
                fig.colorbar(mesh, ax=panel, label=label)
            if _rs_applies(ds):
                panel.plot(lines["alpha"], lines["T_M"], "c--", lw=1.5,
                           label=_THEORY_STYLE["T_M"]["label"])
            _note_theory(panel, ds)
            panel.set(
                xlabel=ALPHA_LABEL,
                ylabel=T_LABEL,
                title=title,
                xlim=(lines["alpha"][0], lines["alpha"][-1]),
                ylim=(0.0, T_edges[-1]),
            )
    return _finish(fig, list(axes.flat), ax is None, _pending_notes(N, status))


# --------------------------------------------------------------------------- #
# Basin map
# --------------------------------------------------------------------------- #

#: Colour of each class of :data:`sweep.analysis.BASINS`, in that order.
BASIN_COLORS = ("tab:green", "tab:orange", "tab:purple", "tab:red", "tab:gray")


def basin_map(ds: xr.Dataset, ax: Axes | Sequence[Axes] | None = None, *,
              N: int | None = None) -> Figure:
    """The most frequent class of the converged states over (alpha, T), one panel per algorithm.

    Classes of :func:`sweep.analysis.basins` (retrieval of pattern 0, of another
    pattern, mixture, spin glass, paramagnet), each its own colour; the colour
    bar names them. Cells without a converged seed are grey (or hatched while
    pending); the RS T_g and T_M lines are drawn (not over a run with a field).

    Parameters
    ----------
    ds : xarray.Dataset
        Results with ``n_condensed`` and ``best_pattern``.
    ax : Axes or sequence of Axes, optional
        One per algorithm; default a new Figure.
    N : int, optional
        System size shown (default the largest).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    N, algorithms, fig, axes = _algorithm_panels(ds, ax, N)
    at = ds.sel(N=N)
    shares = analysis.basins(at).compute()
    status = at["status"].load()
    pending = (status == PENDING).any("seed")
    cmap = ListedColormap(BASIN_COLORS)
    norm = BoundaryNorm(np.arange(len(analysis.BASINS) + 1) - 0.5, cmap.N)
    alpha_edges, T_edges = cell_edges(ds["alpha"].values), cell_edges(ds["T"].values)
    lines = analysis.theory_lines(_theory_alpha(ds), names=("T_g", "T_M"))
    for panel, algorithm in zip(axes.flat, algorithms, strict=True):
        sel = shares.sel(algorithm=algorithm)
        fraction = sel["fraction"].transpose("basin", "T", "alpha").values
        used = sel["n_used"].transpose("T", "alpha").values > 0
        dominant = np.where(used, np.argmax(np.nan_to_num(fraction, nan=-1.0), axis=0), np.nan)
        mesh = _cells(panel, (alpha_edges, T_edges), dominant,
                      pending.sel(algorithm=algorithm).transpose("T", "alpha").values,
                      "no converged seed", cmap=cmap, norm=norm)
        bar = fig.colorbar(mesh, ax=panel, ticks=np.arange(len(analysis.BASINS)),
                           label="most frequent state")
        bar.ax.set_yticklabels([name.replace("_", " ") for name in analysis.BASINS])
        if _rs_applies(ds):
            _draw_theory(panel, lines)
        _note_theory(panel, ds)
        panel.set(xlabel=ALPHA_LABEL, ylabel=T_LABEL, title=f"{algorithm}, N = {N}",
                  xlim=(lines["alpha"][0], lines["alpha"][-1]), ylim=(0.0, T_edges[-1]))
    return _finish(fig, list(axes.flat), ax is None, _pending_notes(N, status))


# --------------------------------------------------------------------------- #
# Files
# --------------------------------------------------------------------------- #


def save_figure(ds: xr.Dataset, path: str | os.PathLike, kind: str = "phase", **kwargs) -> Figure:
    """Draw one kind of figure and write it (format from the suffix: png, pdf, svg).

    Parameters
    ----------
    ds : xarray.Dataset
        Results.
    path : path-like
        Output file.
    kind : {"phase", "overlap", "convergence", "basins"}
        :func:`phase_diagram`, overlap curves (one panel per load of
        :func:`overlap_loads`; pass ``alpha=`` to choose them),
        :func:`convergence_map` or :func:`basin_map`.
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
    elif kind == "basins":
        fig = basin_map(ds, **kwargs)
    else:
        fig = _overlap_figure(ds, **kwargs)
    fig.savefig(path, dpi=FIGURE_DPI)
    return fig
