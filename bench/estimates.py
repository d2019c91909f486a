"""How far the dry-run's compute estimate is from the run it estimates.

Run: ``python bench/estimates.py`` (about 6 minutes on 2 quiet cores).

For each config, in one run of this script: ``sweep.dry_run`` (its pilot
measures a few seeds, :mod:`sweep.calibration`), then ``sweep.run`` on a fresh
store on the local cluster ``hopsweep run`` starts for a config without
``[cluster]`` (one for all configs, from ``sweep.cluster.connect`` as the command
gets its own: one worker per core, without Dask's statistical profiler, which
costs TAP tasks about 10 % in a default LocalCluster); the measured compute is
the sum of the store's ``wall_time`` (the solver time of every point, the
quantity the estimate predicts, in core-seconds). The configs are the examples,
two grids where most points do not converge (random starts across the spin-glass region,
and loads beyond alpha_c), whose iteration counts no static model knows, and one grid
for each family no example runs (full BP, exact enumeration with Monte Carlo, per-site
output, float32 from random starts).

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


#: Grids of the families no example runs, as configs users bring would: full BP from
#: paramagnetic starts, exact enumeration with Monte Carlo, per-site output with
#: relaxed BP, and float32 TAP from random starts (2026-12-08: ratios 0.84-1.00).
FAMILIES = {
    "full_bp": {
        "name": "full_bp", "root_seed": 3,
        "grid": {"algorithm": ["bp", "tap"], "N": [100, 150], "alpha": [0.05, 0.1],
                 "T": {"start": 0.1, "stop": 1.0, "num": 10}, "seed": 2},
        "solver": {"init": "paramagnetic"},
    },
    "exact_mc": {
        "name": "exact_mc", "root_seed": 5,
        "grid": {"algorithm": ["exact", "mc"], "N": [16, 20], "alpha": [0.1, 0.2],
                 "T": {"start": 0.2, "stop": 1.2, "num": 6}, "seed": 4},
    },
    "sites": {
        "name": "sites", "root_seed": 6,
        "grid": {"algorithm": ["tap", "bp_relaxed"], "N": [1000, 2000],
                 "alpha": [0.03, 0.08, 0.13], "T": {"start": 0.1, "stop": 0.9, "num": 9},
                 "seed": 3},
        "output": {"sites": True},
    },
    "float32_random": {
        "name": "float32_random", "root_seed": 8,
        "grid": {"algorithm": ["tap"], "N": [3000], "alpha": [0.03, 0.1],
                 "T": {"start": 0.1, "stop": 1.1, "num": 12}, "seed": 3},
        "solver": {"dtype": "float32", "init": "random", "max_iter": 1500},
    },
}


def configs() -> dict[str, dict]:
    """Name -> config dict: the examples, the hard grids, then the other families."""
    out = {path.stem: tomllib.loads(path.read_text()) for path in sorted(EXAMPLES.glob("*.toml"))}
    return out | HARD | FAMILIES


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
