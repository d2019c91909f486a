"""Basins of attraction: which kind of state each converged disorder sample ends in.

``sweep.analysis.basins(ds)`` (also ``ds.hopfield.basins()``): per (algorithm,
N, alpha, T), the fraction of converged seeds in each class of :data:`BASINS`,
with counts and binomial errors, from the stored ``n_condensed``,
``best_pattern`` and ``q``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .points import SEED, check_dims, check_var, usable

#: Classes of a converged state, in the order of the ``basin`` coordinate.
BASINS = ("retrieval", "other_pattern", "mixture", "spin_glass", "paramagnet")
#: q above which a state with no condensed pattern counts as a spin glass, not the
#: paramagnet (whose q is 0 but for finite-size noise of order 1/N).
SPIN_GLASS_Q = 0.1


def basins(ds: xr.Dataset, q_threshold: float = SPIN_GLASS_Q) -> xr.Dataset:
    """Fraction of the converged seeds whose state falls in each class, with binomial errors.

    Each converged point is classed by ``n_condensed``, ``best_pattern`` and ``q``:
    ``retrieval`` (one condensed pattern, pattern 0), ``other_pattern`` (one
    condensed pattern, another one), ``mixture`` (several condensed patterns),
    ``spin_glass`` (none condensed, q > q_threshold) and ``paramagnet`` (none
    condensed, q <= q_threshold). Other points (pending, not converged, diverged,
    failed, invalid) are left out and ``n_used`` counts the rest.

    Parameters
    ----------
    ds : xarray.Dataset
        Results with ``n_condensed``, ``best_pattern``, ``q`` and ``status`` over
        (algorithm, N, alpha, seed, T).
    q_threshold : float, default=SPIN_GLASS_Q
        Edwards-Anderson parameter separating spin glass from paramagnet.

    Returns
    -------
    xarray.Dataset
        Over (basin, algorithm, N, alpha, T): ``count`` (int, converged seeds in
        the class), ``fraction`` (count / n_used, NaN where n_used is 0) and
        ``fraction_err`` (binomial standard error sqrt(f (1 - f) / n_used));
        over (algorithm, N, alpha, T): ``n_used``.
    """
    for var in ("n_condensed", "best_pattern", "q"):
        check_var(ds, var)
    check_dims(ds, SEED)
    ok = usable(ds)
    n, best, q = ds["n_condensed"], ds["best_pattern"], ds["q"]
    none = n == 0
    classes = {
        "retrieval": (n == 1) & (best == 0),
        "other_pattern": (n == 1) & (best != 0),
        "mixture": n > 1,
        "spin_glass": none & (q > q_threshold),
        "paramagnet": none & (q <= q_threshold),
    }
    count = xr.concat([(member & ok).sum(SEED) for member in classes.values()],
                      dim=xr.DataArray(list(BASINS), dims="basin", name="basin"))
    n_used = ok.sum(SEED)
    fraction = count / n_used.where(n_used > 0)
    err = np.sqrt(fraction * (1 - fraction) / n_used.where(n_used > 0))
    note = (f"classes of the converged states: {', '.join(BASINS)} (spin glass: q > "
            f"{q_threshold:g} with nothing condensed)")
    return xr.Dataset(
        {
            "count": count.assign_attrs(long_name="converged seeds in the basin", units="1"),
            "fraction": fraction.assign_attrs(long_name="fraction of the converged seeds in "
                                              "the basin", units="1", comment=note),
            "fraction_err": err.assign_attrs(long_name="binomial standard error of fraction",
                                             units="1"),
            "n_used": n_used.assign_attrs(long_name="converged seeds classified", units="1"),
        },
        attrs={"q_threshold": q_threshold},
    )
