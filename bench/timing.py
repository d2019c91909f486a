"""Interleaved best-of-N timing shared by the bench scripts (machines are shared and noisy)."""

from __future__ import annotations

import time

import numpy as np


def best_times(candidates: dict, repeats: int) -> dict:
    """Best wall time (s) of each zero-argument callable, interleaved over ``repeats``:
    each repeat times every candidate once, so all see the same machine load."""
    best = dict.fromkeys(candidates, np.inf)
    for _ in range(repeats):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best
