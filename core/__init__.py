"""The contracts every other package builds on, importing nothing of the project's own.

Errors and safe file I/O (``errors``, ``safe_io``), the command-line argument rules (``cli_args``),
credential redaction (``redact``), content hashes (``hashing``), the results row (``results`` and
``results.schema.json``: one dataclass, one schema, one reader, the writer's planned row), the
transcript/message format (``chat_format``: rendering, parsing and ``content_text``;
``chat_template.jinja``; ``qwen_tokenizer``) and the adapter contract (``adapter``: the servable LoRA
targets and peft's matching rule, the lint vLLM's loader is checked against, the manifest's place).
"""
