"""Root conftest: the behavioural suite's options (`pytest evals/ --adapter madcat ...`)."""

pytest_plugins = ["evals.run.pytest_plugin"]
