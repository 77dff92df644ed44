"""python -m serving {check,load,unload,lint,logprobs,command}: the vLLM side of the madcat harness."""

from __future__ import annotations

import argparse
import json
import sys

from core.cli_args import OneLineParser, float_in, int_in
from serving.check import PROBES
from serving.server_api import DEFAULT_TIMEOUT_S, default_api_key

MAX_TIMEOUT_S = 24 * 3600.0


def _server_args(parser: argparse.ArgumentParser, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    parser.add_argument("--base-url", required=True, help="the vLLM server, e.g. http://sin:8000")
    parser.add_argument("--api-key", default=default_api_key(), help="bearer token (default: $VLLM_API_KEY)")
    parser.add_argument("--timeout", type=float_in(0.0, MAX_TIMEOUT_S, low_open=True), default=timeout,
                        help="seconds per request (up to a day)")


def _lint_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-rank", type=int_in(1, 1024), default=16, help="the server's --max-lora-rank (16)"
    )
    parser.add_argument(
        "--tensor-parallel", type=int_in(1, 1024), default=1, help="the server's tensor-parallel-size (1)"
    )
    parser.add_argument(
        "--allow-routed-experts", action="store_true", help="accept per-expert LoRA on the routed experts"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m serving", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="{check,load,unload,lint,logprobs,command}")

    check = sub.add_parser("check", help="server up, adapter listed with its parent, LoRA live")
    _server_args(check)
    check.add_argument("--adapter", default="madcat", help="the LoRA's served name (madcat)")
    check.add_argument("--base-model", default=None, help="fail unless the adapter's parent is this name")
    check.add_argument(
        "--probes", type=int_in(1, len(PROBES)), default=3,
        help=f"probe prompts to compare (3, at most {len(PROBES)})",
    )
    check.add_argument(
        "--tolerance", type=float_in(0.0, 100.0, low_open=True), default=1e-4,
        help="logprob difference that counts",
    )
    check.add_argument("--json", action="store_true", help="print the result as JSON")

    load = sub.add_parser("load", help="load a LoRA at run time (POST /v1/load_lora_adapter)")
    _server_args(load, timeout=120.0)
    load.add_argument("--name", required=True, help="the name clients will use as model")
    load.add_argument("--path", required=True, help="adapter directory (as the server sees it)")
    load.add_argument("--no-lint", action="store_true", help="send it without linting the directory first")
    _lint_args(load)

    unload = sub.add_parser("unload", help="unload a LoRA (POST /v1/unload_lora_adapter)")
    _server_args(unload)
    unload.add_argument("--name", required=True, help="the served name of the LoRA to unload")

    lint = sub.add_parser("lint", help="can vLLM serve this adapter on Qwen3-Next?")
    lint.add_argument("adapter_dir", help="the adapter's directory (adapter_config.json + weights)")
    _lint_args(lint)
    lint.add_argument("--json", action="store_true", help="print the report as JSON")

    logprobs = sub.add_parser("logprobs", help="teacher-forced prompt logprobs of reference transcripts (for "
                              "`python -m reports divergence`)")
    _server_args(logprobs)
    logprobs.add_argument("--model", required=True, help="the served name (the LoRA, e.g. madcat)")
    logprobs.add_argument("--tokenizer", required=True, help="the base model's dir (its tokenizer and chat template)")
    logprobs.add_argument("--transcripts", required=True, help="JSONL of reference transcripts (e.g. the dataset)")
    logprobs.add_argument("--limit", type=int_in(1, 1_000_000), default=None,
                          help="only the first N transcripts")
    logprobs.add_argument("--out", required=True, help="where the JSON goes")

    command = sub.add_parser("command", help="print the `vllm serve` command of a config in serving/configs/")
    command.add_argument("config", help="sin-awq-lora, bf16-lora, tiny-twin, or a YAML path")
    command.add_argument("--model", default=None, help="override the model (path or repo id)")
    command.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a flag (repeatable)"
    )
    return parser


def _check(args: argparse.Namespace) -> int:
    from serving.check import format_result, result_json, run_check

    result = run_check(
        args.base_url,
        args.adapter,
        base_model=args.base_model,
        probes=args.probes,
        api_key=args.api_key,
        timeout=args.timeout,
        tolerance=args.tolerance,
    )
    if args.json:
        print(result_json(result))
    elif result.ok:
        print(format_result(result))
    else:
        if result.lines:
            print(format_result(result).rsplit("\n", 1)[0])
        print(result.message, file=sys.stderr)
    return result.exit_code


def _load(args: argparse.Namespace) -> int:
    from serving.lora_admin import load_adapter

    result = load_adapter(
        args.base_url,
        args.name,
        args.path,
        lint=not args.no_lint,
        max_rank=args.max_rank,
        tensor_parallel=args.tensor_parallel,
        allow_routed_experts=args.allow_routed_experts,
        api_key=args.api_key,
        timeout=args.timeout,
    )
    for note in result.notes:
        print(note, file=sys.stderr)
    print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return result.exit_code


def _unload(args: argparse.Namespace) -> int:
    from serving.lora_admin import unload_adapter

    result = unload_adapter(args.base_url, args.name, api_key=args.api_key, timeout=args.timeout)
    print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return result.exit_code


def _lint(args: argparse.Namespace) -> int:
    from core.adapter.lint import lint_adapter
    from core.adapter.report import format_report

    report = lint_adapter(
        args.adapter_dir,
        max_rank=args.max_rank,
        tensor_parallel=args.tensor_parallel,
        allow_routed_experts=args.allow_routed_experts,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif report.unreadable:
        print(f"serving lint: cannot read the adapter: {'; '.join(report.errors)}", file=sys.stderr)
    else:
        print(format_report(report))
    return report.exit_code


def _command(args: argparse.Namespace) -> int:
    from serving.serve_config import ConfigError, load_serve_config, parse_set, shell_command

    try:
        config = load_serve_config(args.config)
        overrides = parse_set(args.set)
        if args.model:
            overrides["model"] = args.model
        print(shell_command(config, overrides))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from serving.logprobs import run as _logprobs

    handlers = {"check": _check, "load": _load, "unload": _unload, "lint": _lint, "command": _command,
                "logprobs": _logprobs}
    try:
        return handlers[args.verb](args)
    except KeyboardInterrupt:
        print("serving: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `| head`: stop quietly
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
