"""Statistics the drift detectors are built from: references per phase, windows, distances, river wrappers.

Not plugins: nothing here is registered or watches a feature by itself.
"""
