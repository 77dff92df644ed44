"""Root conftest: the behavioural suite's options (`pytest evals/ --adapter madcat ...`)."""

pytest_plugins = ["runner.pytest_plugin"]
