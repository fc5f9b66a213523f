"""HTTP plumbing: routes, schemas, responses, auth, middleware and dependencies (no model work here)."""
