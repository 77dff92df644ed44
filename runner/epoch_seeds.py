"""Each epoch samples with its own seed.

One seed for every request makes vLLM (and any seeded sampler) repeat the same trajectory in every epoch: the
epochs would be replicas, and the paired test would count one scenario's outcome as five independent pairs. The
real-Qwen record's round 1 (reports/records/real-qwen/) was run so; its base repeated the same outcome in all five
epochs of all 101 scenarios.
"""

from __future__ import annotations

EPOCH_SEED_STRIDE = 1_000_003
EPOCH_SEED_RULE = f"seed + (epoch - 1) * {EPOCH_SEED_STRIDE}, mod 2**31"


def epoch_seed(seed: int, epoch: int) -> int:
    """The sampling seed of one epoch: the run's seed for epoch 1 (a one-epoch run samples as before)."""
    return (seed + (epoch - 1) * EPOCH_SEED_STRIDE) % 2**31
