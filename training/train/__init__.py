"""Pre-training: typed config, page-view batching with distinct-image dedup, the loop, checkpoints."""
