"""Data engine: everything between files on disk and what a model sees.

Owns the sample schema, the dataset-format adapters, the offline build, the synthetic remote-sensing world,
rendering (sample -> SFT conversation / GRPO prompt), coordinate frames, dynamic resolution, patch splitting,
zoom-in crops and chains, and mixtures. It sits at the bottom of the dependency graph: it imports no other
GeoRFT package (only PIL, numpy, datasets), and every other package may import it.
"""
