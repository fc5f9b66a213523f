"""Scripts that check the speed targets; run them as modules from the repository root, e.g.
`python -m benchmarks.serve`. Figures go to benchmarks/RESULTS.md with the command that made them."""
