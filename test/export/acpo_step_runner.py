"""Runs an exported package's acpo_step.advantage_of_rows (the driver-side step the ACPO
trainer subclass calls in verl) on rows given as JSON, with the golden judge
(golden_runner.judge_row), without verl (test/export/verl-trainer.test.ts).

argv[1]: {"dir", "pkg", "table", "rows": [{prompt_ids, response_ids, pieces, entropy, reward, uid}]}.
Prints {"advantages", "C", "boundaries"}.
"""
import importlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_runner import judge_row  # noqa: E402


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    sys.path.insert(0, spec["dir"])
    step = importlib.import_module(f"{spec['pkg']}.acpo_step")
    table = spec["table"]
    out = step.advantage_of_rows(spec["rows"], score=lambda batch: [judge_row(table, q["seq"]) for q in batch])
    print(json.dumps({"advantages": out["advantages"], "C": out["C"], "boundaries": [s["boundaries"] if s else None for s in out["segmentations"]]}))


if __name__ == "__main__":
    main()
