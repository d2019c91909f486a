"""The hopsweep engine: config -> spec -> plan -> runner -> store -> analysis.

No physics lives here; every number comes from :mod:`kernels`.

``sweep.open_results(store)`` opens a sweep's store as an xarray Dataset (and
registers the analysis accessor when ``sweep.analysis`` is installed);
``sweep.patterns_for(ds, algorithm=..., N=..., alpha=..., seed=...)`` regenerates
the patterns of one point. Both are imported on first use, so importing
``sweep`` (and ``hopsweep --help``) stays instant.
"""

from __future__ import annotations

__all__ = ["open_results", "patterns_for"]


def __getattr__(name: str):
    if name in __all__:
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module 'sweep' has no attribute {name!r}")
