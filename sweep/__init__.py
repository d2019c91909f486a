"""hopsweep's sweep engine and its Python API.

The data flows config -> spec -> plan -> tasks -> kernels -> store -> results
-> analysis (DESIGN.md); no physics lives here, every number comes from
:mod:`kernels`.

Public API
----------
run(config, *, store=None, client=None, overwrite=False, retry_failed=False, progress=True)
    Compute a sweep (on the caller's ``distributed.Client`` or a cluster it
    starts) and return its results as an xarray Dataset.
status(store)
    Counts per status, rate, remaining compute and errors of a store.
dry_run(config, *, store=None)
    Check a config and plan its run; nothing is written.
open_results(store)
    Open a store as a lazy, labelled Dataset (registers ``ds.hopfield``).
patterns_for(ds, *, algorithm, N, alpha, seed)
    Regenerate the patterns of one point from the store alone.

Errors a caller can fix are :class:`HopsweepError`; those about the input are
also ``ValueError`` (:class:`SpecError`, :class:`StoreMismatch`,
:class:`StoreBusy`, :class:`StoreLocationError`). Everything is imported on
first use, so ``import sweep`` (and ``hopsweep --help``) loads neither Dask,
xarray, matplotlib nor dask-jobqueue.
"""

from __future__ import annotations

import importlib

#: Public name -> the module that owns it.
_OWNERS = {
    "run": "api",
    "status": "api",
    "dry_run": "api",
    "FailedPointsWarning": "api",
    "open_results": "results",
    "patterns_for": "results",
    "HopsweepError": "errors",
    "SpecError": "errors",
    "StoreMismatch": "errors",
    "StoreBusy": "errors",
    "StoreLocationError": "errors",
    "ClusterUnavailable": "errors",
}

__all__ = list(_OWNERS)


def __getattr__(name: str):
    if name in _OWNERS:
        return getattr(importlib.import_module(f".{_OWNERS[name]}", __name__), name)
    raise AttributeError(f"module 'sweep' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
