"""The ``ds.hopfield`` Dataset accessor: the analysis and plots of a results Dataset.

Importing this module registers it (:func:`sweep.open_results` does);
matplotlib is imported by the plotting methods only.
"""

from __future__ import annotations

import xarray as xr

from . import analysis


@xr.register_dataset_accessor("hopfield")
class HopfieldAccessor:
    """``ds.hopfield``: the analysis and plots of :mod:`sweep.analysis` and :mod:`sweep.plots`.

    The plots import matplotlib on first use.

    Examples
    --------
    >>> ds.hopfield.seed_mean("m")                       # doctest: +SKIP
    >>> ds.hopfield.retrieval_temperature().compute()    # doctest: +SKIP
    >>> ds.hopfield.plot_phase()                         # doctest: +SKIP
    """

    def __init__(self, xarray_obj: xr.Dataset):
        self._obj = xarray_obj

    def usable(self) -> xr.DataArray:
        """See :func:`sweep.analysis.usable`."""
        return analysis.usable(self._obj)

    def seed_mean(self, var: str = "m") -> xr.Dataset:
        """See :func:`sweep.analysis.seed_mean`."""
        return analysis.seed_mean(self._obj, var)

    def extrapolate(self, **kwargs) -> xr.Dataset:
        """See :func:`sweep.extrapolation.extrapolate` (transition-mode stores)."""
        return analysis.extrapolate(self._obj, **kwargs)

    def plot_extrapolation(self, **kwargs):
        """:func:`sweep.transition_plots.extrapolation_figure` of :meth:`extrapolate` (kwargs)."""
        from .transition_plots import extrapolation_figure

        return extrapolation_figure(self.extrapolate(**kwargs))

    def retrieval_temperature(self, **kwargs) -> xr.Dataset:
        """See :func:`sweep.analysis.retrieval_temperature`."""
        return analysis.retrieval_temperature(self._obj, **kwargs)

    def critical_load(self, **kwargs) -> xr.Dataset:
        """See :func:`sweep.analysis.critical_load`."""
        return analysis.critical_load(self._obj, **kwargs)

    def stability_temperature(self, other: xr.Dataset | None = None, **kwargs) -> xr.Dataset:
        """See :func:`sweep.analysis.stability_temperature`."""
        return analysis.stability_temperature(self._obj, other, **kwargs)

    def finite_size(self, **kwargs) -> xr.Dataset:
        """See :func:`sweep.analysis.finite_size`."""
        return analysis.finite_size(self._obj, **kwargs)

    def compare(self, a: str, b: str, var: str = "m") -> xr.Dataset:
        """See :func:`sweep.analysis.compare`."""
        return analysis.compare(self._obj, a, b, var)

    def basins(self, **kwargs) -> xr.Dataset:
        """See :func:`sweep.analysis.basins`."""
        return analysis.basins(self._obj, **kwargs)

    def phase_diagram(self, **kwargs) -> xr.Dataset:
        """See :func:`sweep.analysis.phase_diagram`."""
        return analysis.phase_diagram(self._obj, **kwargs)

    def plot_phase(self, **kwargs):
        """See :func:`sweep.plots.phase_diagram`."""
        from . import plots

        return plots.phase_diagram(self._obj, **kwargs)

    def plot_overlap(self, alpha: float, **kwargs):
        """See :func:`sweep.plots.overlap_curves`."""
        from . import plots

        return plots.overlap_curves(self._obj, alpha, **kwargs)

    def plot_basins(self, **kwargs):
        """See :func:`sweep.plots.basin_map`."""
        from . import plots

        return plots.basin_map(self._obj, **kwargs)

    def plot_convergence(self, **kwargs):
        """See :func:`sweep.plots.convergence_map`."""
        from . import plots

        return plots.convergence_map(self._obj, **kwargs)
