"""The contracts every other package builds on, importing nothing of the project's own.

Errors and safe file I/O (``errors``, ``safe_io``), the command-line argument rules (``cli_args``),
credential redaction (``redact``), content hashes (``hashing``), the transcript/message format
(``chat_format``, ``chat_template.jinja``, ``qwen_tokenizer``) and the adapter contract
(``adapter``: the servable LoRA targets, the lint vLLM's loader is checked against, the manifest).
"""
