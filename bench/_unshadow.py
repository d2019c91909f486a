"""Imported first by the bench scripts: the project's ``kernels``, one thread each.

``python bench/x.py`` puts bench/ first on ``sys.path``, where bench/kernels.py
(a name an issue asks to keep) would shadow the ``kernels`` package. Import the
package with bench/ left out, so ``sys.modules`` holds it for every later
import, then put bench/ back (processes spawned from a script, such as Dask
workers, re-run it and import this module again). Also default to one Numba and
one BLAS thread (the benchmarks measure one core; set the variables to
override), before either library is loaded.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
_entries = sys.path[:]
sys.path[:] = [p for p in _entries if Path(p or ".").resolve() != HERE]
import kernels  # noqa: E402, F401

sys.path[:] = _entries
