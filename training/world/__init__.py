"""Synthetic visual-shop worlds with known taste: `generate_world(WorldConfig(...), out_dir)`."""

from training.world.config import PRESETS, WorldConfig, preset
from training.world.generate import WorldSummary, generate_world

__all__ = ["PRESETS", "WorldConfig", "WorldSummary", "generate_world", "preset"]
