"""Fault injection: one module per fault, found through :mod:`loadgen.faults.registry`."""
