"""`python -m runner ...`: run the behavioural suite against a model (the same as `python -m evals run ...`)."""

from runner.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
