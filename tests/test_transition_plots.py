"""Figures of transition mode (sweep/transition_plots.py) on a synthetic transition store."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from test_extrapolation import transition_store

from kernels import rs
from sweep import extrapolation, transition_plots


@pytest.fixture(scope="module")
def fitted():
    return extrapolation.extrapolate(transition_store(np.random.default_rng(2)), n_boot=100, rng=0)


def errorbars(ax):
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_extrapolation_figure_shows_means_fit_limit_and_rs_per_line(fitted, tmp_path):
    fig = transition_plots.extrapolation_figure(fitted)
    panels = fig.axes
    assert len(panels) == fitted["alpha"].size
    for panel, alpha in zip(panels, fitted["alpha"].values, strict=True):
        means, limit = errorbars(panel)
        x, y = means.lines[0].get_data()
        assert np.allclose(x, fitted["N"].values ** -1.0)
        assert np.allclose(y, fitted["T_M_mean"].sel(algorithm="tap", alpha=alpha))
        assert limit.lines[0].get_data()[1][0] == pytest.approx(
            float(fitted["T_M"].sel(algorithm="tap", alpha=alpha))
        )
        rs_line = [line for line in panel.lines if line.get_linestyle() == "--"]
        assert rs_line[0].get_ydata()[0] == pytest.approx(rs.retrieval_temperature(alpha))
    fig.savefig(tmp_path / "extrapolation.png")


def test_phase_diagram_places_extrapolated_points_over_the_rs_lines(fitted, tmp_path):
    fig = transition_plots.phase_diagram_figure([fitted])
    (points,) = errorbars(fig.axes[0])
    x, y = points.lines[0].get_data()
    assert np.allclose(x, fitted["alpha"])
    assert np.allclose(y, fitted["T_M"].sel(algorithm="tap"))
    # the RS lines T_g, T_M, T_c are drawn: T_g at the largest load shown
    top = max(np.nanmax(line.get_ydata()) for line in fig.axes[0].lines[:3])
    assert top == pytest.approx(rs.spin_glass_temperature(transition_plots.THEORY_ALPHA[-1]))
    fig.savefig(tmp_path / "phase.png")
