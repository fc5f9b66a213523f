"""`compare`: train, embed and evaluate every method at the same budget, then write one report."""
