"""One router per resource: embed, lookup, health, metrics."""
