"""Re-derives the numbers the record's README states beyond the driver's own comparison, from a round's committed
results-<arm>.json: `python -m reports.records.real-qwen.scenario_level [ROUND ADAPTER]` (default: round-1
qwen-madcat; round 3: `round-3 qwen-r3`). The arms are base, base-full, ADAPTER, ADAPTER-seed1 and the poisoned one
(`qwen-poisoned` in round 1, ADAPTER-poisoned after).

- The epochs were replicas: one sampling seed on every request made each scenario's five epochs repeat one
  trajectory (runner/epoch_seeds.py now gives each epoch its own). How many scenarios differ across epochs, per arm.
- The scenario-level test: each scenario's majority outcome over its epochs, paired with the base's, under the
  project's one rule (reports/significance.py), overall and per behaviour (Holm across behaviours).
- The adapter against the base with the full prompt, on the recorded pairs.
- The training-seed agreement: behaviours called better in either training, and in both.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from reports.significance import overall_significance, significance

RECORD = Path(__file__).resolve().parent


def arms_of(round_name: str, adapter: str) -> tuple[str, ...]:
    poisoned = "qwen-poisoned" if round_name == "round-1" else f"{adapter}-poisoned"
    return ("base", "base-full", adapter, f"{adapter}-seed1", poisoned)


def outcomes(arm: str, here: Path = RECORD / "round-1") -> dict[tuple[str, str, int], bool]:
    rows = json.loads((here / f"results-{arm}.json").read_text(encoding="utf-8"))["results"]
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


def main(argv: list[str] | None = None) -> None:
    round_name, adapter = (argv if argv is not None else sys.argv[1:]) or ("round-1", "qwen-madcat")
    arms = arms_of(round_name, adapter)
    samples = {arm: outcomes(arm, RECORD / round_name) for arm in arms}
    scenarios = {arm: by_scenario(s) for arm, s in samples.items()}
    majority = {arm: {k: 2 * sum(v) > len(v) for k, v in g.items()} for arm, g in scenarios.items()}
    for arm in arms:
        mixed = sum(1 for v in scenarios[arm].values() if 0 < sum(v) < len(v))
        print(f"{arm}: {mixed} of {len(scenarios[arm])} scenarios differ across their epochs")
    for arm in arms[1:]:
        o = overall_significance([(majority["base"][k], majority[arm][k]) for k in majority["base"]])
        print(f"{arm} vs base by scenario: won {o.won} / lost {o.lost}, exact p {o.p:.2g}; "
              f"behaviours better: {better(majority['base'], majority[arm]) or 'none'}")
    for arm in arms[2:4]:
        o = overall_significance([(samples["base-full"][k], samples[arm][k]) for k in samples["base-full"]])
        print(f"{arm} vs base-full by pair: won {o.won} / lost {o.lost}, exact p {o.p:.2g}")
    first, second = (set(better(samples["base"], samples[a])) for a in arms[2:4])
    print(f"training seeds, as run: better in either {len(first | second)}, in both {len(first & second)} "
          f"({len(first & second) / len(first | second):.0%}): {sorted(first & second)}")


if __name__ == "__main__":
    main()
