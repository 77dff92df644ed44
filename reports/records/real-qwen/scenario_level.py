"""Re-derives the round-1 numbers its README states beyond the driver's own comparison, from the committed
results-<arm>.json: `python -m reports.records.real-qwen.scenario_level`.

- The epochs were replicas: one sampling seed on every request made each scenario's five epochs repeat one
  trajectory (runner/epoch_seeds.py now gives each epoch its own). How many scenarios differ across epochs, per arm.
- The scenario-level test: each scenario's majority outcome over its epochs, paired with the base's, under the
  project's one rule (reports/significance.py), overall and per behaviour (Holm across behaviours).
- The adapter against the base with the full prompt, on the recorded pairs.
- The training-seed agreement: behaviours called better in either training, and in both.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from reports.significance import overall_significance, significance

HERE = Path(__file__).resolve().parent / "round-1"
ARMS = ("base", "base-full", "qwen-madcat", "qwen-madcat-seed1", "qwen-poisoned")


def outcomes(arm: str) -> dict[tuple[str, str, int], bool]:
    rows = json.loads((HERE / f"results-{arm}.json").read_text(encoding="utf-8"))["results"]
    return {(r["eval"], r["scenario"], int(r["epoch"])): r["outcome"] == "passed" for r in rows}


def by_scenario(samples: dict[tuple[str, str, int], bool]) -> dict[tuple[str, str], list[bool]]:
    grouped: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for (behaviour, scenario, _epoch), passed in sorted(samples.items()):
        grouped[(behaviour, scenario)].append(passed)
    return grouped


def better(ref: dict, arm: dict) -> list[str]:
    pairs: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for key in ref:
        pairs[key[0]].append((ref[key], arm[key]))
    return sorted(s.group for s in significance(pairs).values() if s.significant and s.won > s.lost)


def main() -> None:
    samples = {arm: outcomes(arm) for arm in ARMS}
    scenarios = {arm: by_scenario(s) for arm, s in samples.items()}
    majority = {arm: {k: 2 * sum(v) > len(v) for k, v in g.items()} for arm, g in scenarios.items()}
    for arm in ARMS:
        mixed = sum(1 for v in scenarios[arm].values() if 0 < sum(v) < len(v))
        print(f"{arm}: {mixed} of {len(scenarios[arm])} scenarios differ across their epochs")
    for arm in ARMS[1:]:
        o = overall_significance([(majority["base"][k], majority[arm][k]) for k in majority["base"]])
        print(f"{arm} vs base by scenario: won {o.won} / lost {o.lost}, exact p {o.p:.2g}; "
              f"behaviours better: {better(majority['base'], majority[arm]) or 'none'}")
    for arm in ("qwen-madcat", "qwen-madcat-seed1"):
        o = overall_significance([(samples["base-full"][k], samples[arm][k]) for k in samples["base-full"]])
        print(f"{arm} vs base-full by pair: won {o.won} / lost {o.lost}, exact p {o.p:.2g}")
    first, second = (set(better(samples["base"], samples[a])) for a in ("qwen-madcat", "qwen-madcat-seed1"))
    print(f"training seeds, as run: better in either {len(first | second)}, in both {len(first & second)} "
          f"({len(first & second) / len(first | second):.0%}): {sorted(first & second)}")


if __name__ == "__main__":
    main()
