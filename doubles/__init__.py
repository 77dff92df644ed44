"""Test doubles: stand-ins the tests and benchmarks use in place of a model or a server. No product
package imports this one (import-linter's `forbidden` contract in pyproject.toml).

``scripted``: scripted agents that play a scenario (the good one is the teacher, dataset/teacher/;
the bad one makes the eval's near miss); ``near_misses``: one near miss per eval, registered by ID;
``scripted_model``: recorded trajectories played back as a model; ``openai_stub``: an OpenAI-compatible HTTP server answering from a script.
"""
