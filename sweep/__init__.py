"""The hopsweep engine: config -> spec -> plan -> runner -> store -> analysis.

No physics lives here; every number comes from :mod:`kernels`.
"""
