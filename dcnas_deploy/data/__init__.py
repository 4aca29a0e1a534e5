"""Data: procedural scenes, real-data loaders, degradations, protocol metrics, classical baselines."""
