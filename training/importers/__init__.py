"""Importers from click logs and public data sets into the dataset contract (docs/ARCHITECTURE.md)."""
