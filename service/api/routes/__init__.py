"""One router per resource: embed, lookup, health, metrics. Each route names its operationId, so
generated clients get stable method names."""
