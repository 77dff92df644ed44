"""Test doubles: stand-ins the tests and benchmarks use in place of a model or a server. No product
package imports this one (import-linter's `forbidden` contract in pyproject.toml).

``scripted``: scripted agents that play a scenario (the good one follows the spec, the bad one makes
the eval's near miss); ``scripted_model``: recorded trajectories played back as a model;
``openai_stub``: an OpenAI-compatible HTTP server answering from a script.
"""
