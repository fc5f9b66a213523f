"""Pre-training of the image encoder (COURIER and the baselines): typed config, page-view batching with
distinct-image dedup, one step per method, the loop with exact resume, run logs and plots."""
