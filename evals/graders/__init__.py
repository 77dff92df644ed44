"""Graders: one function per behaviour, registered with `@behaviour` (see evals.catalog)."""
