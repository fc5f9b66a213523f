"""Courier training: synthetic worlds, COURIER and baseline pre-training, embedding, CTR evaluation."""
