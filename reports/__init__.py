"""Reports over eval runs: statistics, side-by-side comparisons, the promotion gate and the registry.

Entry point: ``python -m reports {show,compare,gate,promote,divergence} ...``.
"""
