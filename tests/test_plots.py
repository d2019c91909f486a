"""The figures of ``sweep.plots`` on real stores made by the ``hopsweep`` command.

Five algorithms (two of them, ``mc`` and ``exact``, without a meaningful iteration
count) over seven loads: a complete store, and a partial one (one shard of four,
the rest pending). What the figures must say: which loads and how many points are
pending, where the RS lines do not apply, with one legend below the panels.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cluster_helpers import hopsweep, run_args, write_config
from matplotlib.collections import QuadMesh

import sweep
from kernels.status import INVALID, NOT_CONVERGED, PENDING
from sweep import plots

#: 5 algorithms x 7 loads x 4 temperatures x 2 seeds at N = 16: a few seconds.
FIVE_ALGORITHMS = """
name = "five"
root_seed = 13

[grid]
algorithm = ["tap", "nmf", "bp_retrieval", "mc", "exact"]
N = [16]
alpha = [0.125, 0.1875, 0.25, 0.3125, 0.375, 0.4375, 0.5]
T = [0.2, 0.5, 0.8, 1.4]
seed = 2

[solver]
mc_sweeps = 200

[cluster]
workers = 1
"""

#: RS line labels that must not be drawn over a run with a field.
RS_CURVES = (
    plots._THEORY_STYLE["T_g"]["label"],
    plots._THEORY_STYLE["T_M"]["label"],
    plots._THEORY_STYLE["T_c"]["label"],
    "RS theory $m(T)$",
    r"RS $T_M$ (retrieval appears)",
)
FIELD_NOTE = "RS lines are for h = 0; this run has h = 0.4"


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """(complete, partial) stores of FIVE_ALGORITHMS; partial holds shard 0 of 4 only."""
    directory = tmp_path_factory.mktemp("plots")
    config = write_config(directory, FIVE_ALGORITHMS)
    complete, partial = directory / "five.zarr", directory / "partial.zarr"
    done = hopsweep(*run_args(config, complete), cwd=directory)
    assert done.returncode == 0, done.stderr
    shard = hopsweep("shard", str(config), "--index", "0", "--count", "4", "--store",
                     str(partial), cwd=directory)
    assert shard.returncode == 0, shard.stderr
    return sweep.open_results(complete), sweep.open_results(partial)


def _with_field(ds, h: float):
    """``ds`` with a field ``h`` in its spec, as the store of a run with
    ``[solver] field = h`` records it."""
    spec = json.loads(ds.attrs["spec"])
    spec["solver"]["field"] = h
    return ds.assign_attrs(spec=json.dumps(spec))


def _panels(fig):
    """The titled data panels of a figure (not colour bars, not text-only panels)."""
    return [a for a in fig.axes if a.get_title() and a.axison]


def _legend_labels(fig) -> list[str]:
    assert len(fig.legends) == 1
    return [t.get_text() for t in fig.legends[0].get_texts()]


@pytest.mark.parametrize("kind", plots.KINDS)
def test_zero_field_rs_lines_are_left_out_over_a_run_with_a_field(stores, tmp_path, kind):
    ds = stores[0]
    plain = plots.save_figure(ds, tmp_path / "plain.png", kind)
    drawn = {line.get_label() for a in _panels(plain) for line in a.lines}
    assert drawn & set(RS_CURVES) and FIELD_NOTE not in _legend_labels(plain)

    fig = plots.save_figure(_with_field(ds, 0.4), tmp_path / "field.png", kind)
    drawn = {line.get_label() for a in _panels(fig) for line in a.lines}
    assert not drawn & set(RS_CURVES), drawn
    labels = _legend_labels(fig)
    assert labels[-1] == FIELD_NOTE  # notes come after the entries of drawn things


def test_one_legend_below_the_panels_and_none_inside(stores, tmp_path):
    fig = plots.save_figure(stores[0], tmp_path / "phase.png", "phase")
    fig.draw_without_rendering()
    legend = fig.legends[0].get_window_extent()
    for panel in fig.axes:
        assert panel.get_legend() is None
        assert legend.y1 <= panel.get_window_extent().y0 + 1  # pixels
    assert legend.x0 >= 0 and legend.x1 <= fig.bbox.width  # fits the figure's width


def test_grids_have_at_most_three_columns():
    shapes = {n: plots.grid_shape(n) for n in range(1, 10)}
    assert shapes == {1: (1, 1), 2: (1, 2), 3: (1, 3), 4: (2, 2), 5: (2, 3), 6: (2, 3),
                      7: (3, 3), 8: (3, 3), 9: (3, 3)}


@pytest.mark.parametrize("kind", ["phase", "convergence"])
def test_five_algorithms_wrap_onto_rows_of_three(stores, tmp_path, kind):
    fig = plots.save_figure(stores[0], tmp_path / f"{kind}.png", kind)
    titled = [a for a in fig.axes if a.get_title()]
    columns = {round(a.get_position().x0, 3) for a in titled}
    rows = {round(a.get_position().y0, 3) for a in titled}
    assert len(columns) == 3
    assert len(rows) == (2 if kind == "phase" else 3)  # convergence: mc's iterations are text
    width, height = fig.get_size_inches()
    assert width / height < 2  # not a strip


def test_overlap_shows_every_load_of_a_short_grid_and_a_spread_of_a_long_one(stores, tmp_path):
    ds = stores[0]
    grid = ds["alpha"].values
    np.testing.assert_allclose(plots.overlap_loads(ds.isel(alpha=slice(0, 5))), grid[:5])
    spread = plots.overlap_loads(ds)
    assert spread.size == plots.MAX_OVERLAP_PANELS == 6
    assert spread[0] == grid[0] and spread[-1] == grid[-1]
    fig = plots.save_figure(ds, tmp_path / "o.png", "overlap")
    titles = [a.get_title() for a in _panels(fig)]
    assert [t.split(",")[0] for t in titles] == [rf"$\alpha = {a:g}$" for a in spread]
    assert fig.get_suptitle() == "6 of the 7 loads of the grid"
    short = plots.save_figure(ds.isel(alpha=slice(0, 5)), tmp_path / "s.png", "overlap")
    assert short.get_suptitle() == ""  # every load shown: nothing to say


def test_requested_loads_are_the_nearest_of_the_grid_and_must_lie_in_it(stores):
    ds = stores[0]
    np.testing.assert_allclose(plots.overlap_loads(ds, [0.2, 0.19, 0.5]), [0.1875, 0.5])
    with pytest.raises(ValueError, match=r"^alpha: 0\.6 outside the grid's loads 0\.125 to 0\.5"):
        plots.overlap_loads(ds, [0.3, 0.6])


def test_pending_cells_are_hatched_and_the_title_says_how_many(stores, tmp_path):
    complete, partial = stores
    status = partial["status"].sel(N=16).load()
    share = float((status == PENDING).mean())
    assert 0.5 < share < 1
    for kind in ("phase", "convergence"):
        fig = plots.save_figure(partial, tmp_path / f"{kind}.png", kind)
        assert fig.get_suptitle() == f"N = 16: {100 * share:.0f} % of the points pending"
        assert plots.PENDING_LABEL in _legend_labels(fig)
        for panel in _panels(fig):
            algorithm = panel.get_title().split(",")[0]
            hatched = [c for c in panel.collections if c.get_label() == plots.PENDING_LABEL]
            assert len(hatched) == 1 and hatched[0].get_hatch() == plots.PENDING_HATCH
            # here no cell has both a pending and a computed seed: hatched = all pending
            cells = int((status.sel(algorithm=algorithm) == PENDING).all("seed").sum())
            assert len(hatched[0].get_paths()) == cells
    done = plots.save_figure(complete, tmp_path / "done.png", "phase")
    assert done.get_suptitle() == ""
    assert plots.PENDING_LABEL not in _legend_labels(done)


def test_converged_fraction_leaves_pending_seeds_out(stores, tmp_path):
    """A pending seed has not failed to converge: it is not counted at all."""
    partial = stores[1]
    fig = plots.convergence_map(partial)
    tap = [a for a in _panels(fig) if a.get_title() == "tap, N = 16"][1]  # fraction panel
    fraction = next(c for c in tap.collections if isinstance(c, QuadMesh)).get_array()
    status = partial["status"].sel(algorithm="tap", N=16).transpose("T", "alpha", "seed").values
    computed = status != PENDING
    expected = (status == 1).sum(-1) / np.where(computed.any(-1), computed.sum(-1), np.nan)
    np.testing.assert_allclose(np.ma.filled(fraction, np.nan).ravel(), expected.ravel())


def test_iterations_of_mc_and_exact_are_marked_not_applicable(stores):
    fig = plots.convergence_map(stores[0])
    texts = {t.get_text().split("\n")[0]: t.get_text() for a in fig.axes for t in a.texts}
    assert set(texts) == {"mc, N = 16", "exact, N = 16"}
    assert "iterations: not applicable\n(200 at every point" in texts["mc, N = 16"]
    assert "(0 at every point" in texts["exact, N = 16"]
    titled = [a.get_title() for a in fig.axes if a.get_title()]
    assert titled.count("mc, N = 16") == titled.count("exact, N = 16") == 1  # fraction only
    meshes = [m for a in fig.axes if a.get_title() for m in a.collections
              if isinstance(m, QuadMesh)]
    iterations = [m.axes.get_title() for m in meshes if "iterations" in m.colorbar.ax.get_ylabel()]
    assert iterations == ["tap, N = 16", "nmf, N = 16", "bp_retrieval, N = 16"]


def test_invalid_points_are_marked_not_counted_as_converged(stores):
    """A fixed point outside the method's domain has its own hatch on the fraction panel
    and lowers the converged fraction like any point that is not converged."""
    ds = stores[0].copy(deep=True).load()
    # the test decides which points are invalid: the store's own (e.g. the paramagnet
    # between T = 1 and T_g) become not_converged first
    ds["status"] = ds["status"].where(ds["status"] != INVALID, NOT_CONVERGED)
    status = ds["status"]
    at = {"algorithm": "tap", "N": 16}
    marked = status.sel(**at).copy()
    marked[{"alpha": 0, "seed": 0}] = INVALID  # every T of one load, one seed
    ds["status"].loc[at] = marked
    fig = plots.convergence_map(ds)
    tap = [a for a in _panels(fig) if a.get_title() == "tap, N = 16"][1]  # fraction panel
    hatched = [c for c in tap.collections if c.get_label() == plots.INVALID_LABEL]
    assert len(hatched) == 1 and hatched[0].get_hatch() == plots.INVALID_HATCH
    assert len(hatched[0].get_paths()) == ds.sizes["T"]  # one cell per temperature of the load
    fraction = next(c for c in tap.collections if isinstance(c, QuadMesh)).get_array()
    n_seed = ds.sizes["seed"]
    column = np.ma.filled(fraction, np.nan).reshape(ds.sizes["T"], ds.sizes["alpha"])[:, 0]
    expected = (marked.isel(alpha=0) == 1).sum("seed").transpose("T").values / n_seed
    np.testing.assert_allclose(column, expected)
    others = [a for a in _panels(fig) if a.get_title() != "tap, N = 16"]
    assert not [c for a in others for c in a.collections if c.get_label() == plots.INVALID_LABEL]
    assert plots.INVALID_LABEL in _legend_labels(fig)
