"""How far the dry-run's compute estimate is from the run it estimates.

Run: ``python bench/estimates.py`` (about 5 minutes on 2 quiet cores).

For each config, in one run of this script: ``sweep.dry_run`` (its pilot
measures a few seeds, :mod:`sweep.calibration`), then ``sweep.run`` on a fresh
store on the local cluster ``hopsweep run`` starts for a config without
``[cluster]`` (one for all configs, from ``sweep.cluster.connect`` as the command
gets its own: one worker per core, without Dask's statistical profiler, which
costs TAP tasks about 10 % in a default LocalCluster); the measured compute is
the sum of the store's ``wall_time`` (the solver time of every point, the
quantity the estimate predicts, in core-seconds). The configs are the examples
and two grids where most points do not converge (random starts across the spin-glass region,
and loads beyond alpha_c), whose iteration counts no static model knows.

Printed per config: estimate, measured, ratio and the pilot's own time; the
last line is ``estimate_worst_ratio=R`` (the largest of estimate / measured and
its inverse; the target is <= 1.5).
"""

from __future__ import annotations

import shutil
import tempfile
import tomllib
from pathlib import Path

import _unshadow  # noqa: F401  (first: the kernels package, not bench/kernels.py)
import numpy as np

EXAMPLES = _unshadow.HERE.parent / "examples"

#: Grids where most points end unconverged: random starts below T_g, and loads past alpha_c.
HARD = {
    "random_starts": {
        "name": "random_starts", "root_seed": 7,
        "grid": {"algorithm": ["tap"], "N": [800], "alpha": [0.02, 0.05, 0.08],
                 "T": {"start": 0.2, "stop": 1.4, "num": 24}, "seed": 6},
        "solver": {"init": "random"},
    },
    "beyond_alpha_c": {
        "name": "beyond_alpha_c", "root_seed": 7,
        "grid": {"algorithm": ["tap", "bp_retrieval"], "N": [1000],
                 "alpha": {"start": 0.12, "stop": 0.2, "num": 5},
                 "T": {"start": 0.05, "stop": 0.6, "num": 16}, "seed": 4},
    },
}


def configs() -> dict[str, dict]:
    """Name -> config dict: the examples, then the hard grids."""
    out = {path.stem: tomllib.loads(path.read_text()) for path in sorted(EXAMPLES.glob("*.toml"))}
    return out | HARD


def measure(config: dict, directory: Path, client) -> tuple[float, float, float]:
    """(estimate, measured compute, pilot seconds) of one config, core-seconds."""
    import sweep

    store = directory / f"{config['name']}.zarr"
    shutil.rmtree(store, ignore_errors=True)
    plan = sweep.dry_run(config, store=store)
    ds = sweep.run(config, store=store, client=client, progress=False)
    return plan.estimated_seconds, float(np.nansum(ds.wall_time.values)), plan.pilot_seconds


def main() -> None:
    from sweep.cluster import connect
    from sweep.spec import ClusterSpec

    directory = Path(tempfile.mkdtemp(prefix="hopsweep-estimates-"))
    worst = 1.0
    try:
        with connect(ClusterSpec()) as client:  # a config without [cluster]: one worker per core
            for name, config in configs().items():
                estimate, measured, pilot = measure(config, directory, client)
                ratio = estimate / measured
                worst = max(worst, ratio, 1.0 / ratio)
                print(f"{name:<16} estimate {estimate:8.1f} core-s, measured {measured:8.1f} "
                      f"core-s, ratio {ratio:5.2f} (pilot {pilot:.1f} s)")
        print(f"estimate_worst_ratio={worst:.2f}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
