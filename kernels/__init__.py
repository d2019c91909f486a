"""The physics of hopsweep: pure functions on numpy arrays.

Mean-field message passing for the Hopfield model written as a restricted
Boltzmann machine (Mezard, Phys. Rev. E 95, 022117 (2017)), with the references
every algorithm is checked against.

Modules
-------
patterns
    Pattern generators and the per-point random streams.
tap
    TAP / AMP iteration (and naive mean field), batched over temperatures.
bp
    Belief propagation: full, relaxed (Gaussian messages), retrieval-conditioned.
layered
    Multi-layer AMP for correlated (feature-built) patterns.
reaction
    Onsager reaction terms: i.i.d. (Marchenko-Pastur) and spectral (R-transform).
exact, montecarlo, rs
    References: exact enumeration, Glauber Monte Carlo, replica-symmetric theory.
registry
    The algorithms a sweep can select, behind one calling convention.

This package never imports Dask, Zarr or xarray.
"""
