"""Which points of a results Dataset enter an analysis, and the checks every analysis makes.

Only converged points enter an average or a class count (:func:`usable`); a
Dataset without the variable or dimensions an analysis needs is refused with a
message that names them.
"""

from __future__ import annotations

import xarray as xr

from kernels.status import CONVERGED

from .schema import SAMPLE_DIMS

#: The dimension of disorder samples, which analyses average or count over.
SEED = SAMPLE_DIMS[-1]


def check_var(ds: xr.Dataset, var: str) -> None:
    if var not in ds.data_vars:
        raise ValueError(
            f"var: {var!r} is not a variable of the dataset; "
            f"choose one of {sorted(map(str, ds.data_vars))}"
        )


def check_dims(ds: xr.Dataset, *dims: str) -> None:
    missing = [d for d in dims if d not in ds.dims]
    if missing:
        raise ValueError(
            f"ds: dimensions {missing} are missing; a results Dataset has "
            "(algorithm, N, alpha, seed, T) (open it with sweep.open_results)"
        )


def usable(ds: xr.Dataset) -> xr.DataArray:
    """Boolean mask of the points that enter averages: ``status == converged``.

    Pending, not converged, diverged and failed points are excluded.
    """
    check_var(ds, "status")
    return ds["status"] == CONVERGED
