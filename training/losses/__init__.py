"""Training objectives. Each loss returns the LOCAL share of the global-batch loss (sum of this rank's
terms divided by the global term count), so summing gradients over ranks gives exactly the gradient of
the single-process loss on the global batch."""
