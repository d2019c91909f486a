"""Reading a sweep's results: the store as an xarray Dataset, its status, its patterns.

The reading side of the store (:mod:`sweep.store` writes it): everything here
opens a store read-only and can run while a sweep is writing it. The layout is
:mod:`sweep.schema`'s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kernels.patterns import ALPHA_KEY_SCALE
from kernels.status import PENDING, STATUS_MEANINGS

from .errors import StoreMismatch

if TYPE_CHECKING:
    import xarray

    from kernels.patterns import Patterns

    from .spec import Spec

#: Failed-point error texts a :class:`StoreStatus` keeps (most frequent first).
STATUS_MAX_ERRORS = 10


def _group(store: str | os.PathLike):
    """The store's root Zarr group, read-only; StoreMismatch when there is no store."""
    import zarr

    if not (Path(store) / "zarr.json").exists():
        raise StoreMismatch("{store} {path}: no hopsweep store there (make one with "
                            "{make_store})", path=str(store))
    return zarr.open_group(str(store), mode="r")


def stored_spec(store: str | os.PathLike) -> Spec:
    """The spec a store was made from (physics part; cluster and store at defaults)."""
    from .spec import spec_from_canonical

    return spec_from_canonical(_group(store).attrs["spec"])


def open_results(store: str | os.PathLike) -> xarray.Dataset:
    """Open a sweep's store as a lazy, labelled xarray Dataset.

    Also registers the ``ds.hopfield`` accessor (:mod:`sweep.accessor`).

    Parameters
    ----------
    store : path-like
        A store written by :func:`sweep.run`, ``hopsweep run`` or ``hopsweep shard``.

    Returns
    -------
    xarray.Dataset
        Dask-backed variables over (algorithm, N, alpha, seed, T) as in DESIGN.md.

    Raises
    ------
    sweep.errors.StoreMismatch
        No hopsweep store at ``store``.
    """
    import xarray as xr

    from . import accessor  # noqa: F401  (registers ds.hopfield)

    _group(store)
    return xr.open_zarr(str(store), consolidated=True)


def patterns_for(ds: xarray.Dataset, *, algorithm: str, N: int, alpha: float | None = None,
                 seed: int) -> Patterns:
    """Regenerate the patterns of one point from the store alone.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`open_results` (its ``spec`` attribute is used).
    algorithm : str
        Algorithm coordinate of the point (patterns do not depend on it, but it
        must be in the store).
    N, alpha, seed
        Coordinates of the point; alpha is matched to the stored coordinate.
        A critical_load store (no alpha axis) gives the sample's nested patterns,
        the first round(alpha N) of them when ``alpha`` is given, else all.

    Returns
    -------
    kernels.patterns.Patterns
        Identical to the patterns the point was computed with.

    Raises
    ------
    ValueError
        A coordinate that is not in the store (the message lists the store's).
    """
    from .spec import spec_from_canonical
    from .tasks import build_patterns

    spec = spec_from_canonical(ds.attrs["spec"])
    for key, value, axis in (("algorithm", algorithm, spec.algorithm), ("N", N, spec.N),
                             ("seed", seed, spec.seed)):
        if value not in axis:
            raise ValueError(f"{key} must be one of the store's {list(axis)}, got {value!r}")
    if spec.line_dim == "T" and spec.transition is not None:  # critical_load: nested
        from kernels.patterns import n_patterns
        from kernels.transition import first_patterns

        from .tasks import nested_patterns

        nested = nested_patterns(spec, N, seed)
        return nested if alpha is None else first_patterns(nested, n_patterns(N, alpha))
    keys = [round(a * ALPHA_KEY_SCALE) for a in spec.alpha]
    if alpha is None or round(float(alpha) * ALPHA_KEY_SCALE) not in keys:
        raise ValueError(f"alpha must be one of the store's {list(spec.alpha)}, got {alpha!r}")
    return build_patterns(spec, N, spec.alpha[keys.index(round(float(alpha) * ALPHA_KEY_SCALE))],
                          seed)


@dataclass(frozen=True)
class StoreStatus:
    """What a store holds so far (``sweep.status(store)``, ``hopsweep status``).

    Attributes
    ----------
    path : str
    title, spec_hash, updated : str
        Root attributes of the store.
    counts : dict of str to int
        Points per status meaning (kernels.status.STATUS_MEANINGS, every code).
    total : int
        Points of the sweep.
    points_per_second : float or None
        Points per core-second of solver time so far (None before any).
    core_seconds_left : float or None
        Compute time the pending points still need (:func:`sweep.cost.core_seconds_left`).
    errors : list of (str, int, dict)
        Most frequent failure texts: (text, samples that failed with it, the
        coordinates of the first of them).
    """

    path: str
    title: str
    spec_hash: str
    updated: str
    counts: dict[str, int]
    total: int
    points_per_second: float | None
    core_seconds_left: float | None
    errors: list[tuple[str, int, dict[str, object]]]

    @property
    def done(self) -> int:
        """Points with a result or a failure (everything but pending)."""
        return self.total - self.counts[STATUS_MEANINGS[PENDING]]

    @property
    def complete(self) -> bool:
        """Whether no point is pending."""
        return self.done == self.total

    def lines(self) -> list[str]:
        """The report, one line per item (what ``hopsweep status`` prints)."""
        total = self.total
        out = [f"store     {self.path} ({self.title}, spec hash {self.spec_hash[:12]}, "
               f"updated {self.updated})"]
        out += [f"{meaning:<14}{count:>10}  ({100.0 * count / total:.1f}%)"
                for meaning, count in self.counts.items()]
        out.append(f"done      {self.done}/{total} ({100.0 * self.done / total:.1f}%)")
        if self.core_seconds_left is not None:
            out.append(f"rate      {self.points_per_second:.1f} points per core-second so far; "
                       f"remaining about {self.core_seconds_left:.0f} core-seconds (cost model "
                       "calibrated by the times so far; divide by the number of workers)")
        if self.errors:
            out.append("failed points (samples over all T), by error:")
        for text, count, where in self.errors:
            place = ", ".join(f"{name}={value}" for name, value in where.items())
            out += [f"  {count} x {text}", f"      e.g. {place}"]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def read_status(store: str | os.PathLike, max_errors: int = STATUS_MAX_ERRORS) -> StoreStatus:
    """Counts per status, rate, remaining time and the errors of failed points.

    Parameters
    ----------
    store : path-like
        A store (it may be being written).
    max_errors : int, default=STATUS_MAX_ERRORS
        Distinct error texts kept.

    Returns
    -------
    StoreStatus

    Raises
    ------
    sweep.errors.StoreMismatch
        No hopsweep store at ``store``.
    """
    import collections

    from .cost import core_seconds_left
    from .schema import layout_of
    from .spec import spec_from_canonical

    root = _group(store)
    spec = spec_from_canonical(root.attrs["spec"])
    status = root["status"][...]
    counts = {meaning: int((status == code).sum())
              for code, meaning in layout_of(spec).flags.items()}
    wall = root["wall_time"][...]
    finite = np.isfinite(wall)
    left = core_seconds_left(status, wall, spec)
    rate = 1.0 / float(wall[finite].mean()) if left is not None else None
    errors = root["error"][...]
    texts = collections.Counter(str(e) for e in errors.ravel() if str(e))
    coords = {name: root[name][...] for name in root["error"].metadata.dimension_names}
    listed = []
    for text, count in texts.most_common(max_errors):
        first = np.argwhere(errors == text)[0]
        where = {name: getattr(coords[name][i], "item", lambda v=coords[name][i]: v)()
                 for name, i in zip(coords, first, strict=True)}
        listed.append((text, count, where))
    attrs = root.attrs
    return StoreStatus(str(store), str(attrs.get("title", "")), str(attrs.get("spec_hash", "")),
                       str(attrs.get("updated", "")), counts, int(status.size), rate, left,
                       listed)
