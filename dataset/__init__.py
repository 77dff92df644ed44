"""The madcat training set: generated from the simulated world, judged by the eval graders.

    python -m dataset build --out dataset/madcat-system.jsonl [--seed N] [--count N | --categories SPEC]
    python -m dataset validate FILE [--tokenizer DIR]
    python -m dataset decontam FILE
    python -m dataset stats FILE [--out reports/records/dataset]

Library: dataset.validate.validate_lines(lines) -> list[Problem]; dataset.build.build(...);
dataset.decontam.check(lines); dataset.behaviours.demonstrated(line).
"""
