"""Image submodule: HCDC over the NAS-Bench-201 cell space (reuses
the hypergradient core; imports no graph code)."""
