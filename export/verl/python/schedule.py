"""The stage chain of an exported pipeline on verl's driver: which stage runs, and what
changes at a switch. Each stage's `until` is generated from its IR graph (numerics.py:
until_<stage>) and evaluated after every optimizer step on the step counters, as acpo's
loop does (runtime/loop/rl/stages.ts, until.ts): `steps` = steps completed in the current stage
(this one included), `total_steps` = completed in the run; NaN counts as false.
trainer.py drives it; it needs torch only and runs in acpo's tests without verl.
"""
import math

import torch

from . import numerics as N


def _empty_batch(steps, total_steps):
    """The IR inputs of a condition on the counters: a batch with no responses."""
    return {
        "step_idx": torch.zeros((0, 1), dtype=torch.int64),
        "step_length": torch.zeros((0, 1), dtype=torch.float64),
        "group": torch.zeros((0,), dtype=torch.int64),
        "n_groups": 0,
        "steps": steps, "total_steps": total_steps, "seed": 0,
    }


def until_holds(stage, steps, total_steps, params=None):
    """True when `stage` ends after a step at these counters."""
    v = float(N.STAGES[stage]["until"](_empty_batch(steps, total_steps), {**N.PARAMS, **(params or {})})["until"])
    return not math.isnan(v) and v != 0


class StageSchedule:
    """Which stage runs; `after_step(total_steps)` after each optimizer step returns the
    switch it causes: None, or {"ended", "next" (None: the run ends), "freeze" (the stage
    whose policy a later stage's KL compares against, else None)}."""

    def __init__(self, params=None):
        self.stage = N.FIRST_STAGE
        self.start = 0  # run steps completed when the stage began
        self.done = False
        self.params = params

    def settings(self):
        return N.STAGES[self.stage]

    def after_step(self, total_steps):
        if self.done:
            raise RuntimeError(f"acpo pipeline {N.NAME}: a step after the last stage ended")
        ended = self.stage
        if not until_holds(ended, total_steps - self.start, total_steps, self.params):
            return None
        nxt = N.STAGES[ended]["next"]
        if nxt is None:
            self.done = True
        else:
            self.stage, self.start = nxt, total_steps
        return {"ended": ended, "next": nxt, "freeze": ended if ended in N.FREEZE else None}

    def replay(self, total_steps):
        """The schedule after `total_steps` completed steps (resuming a run): the switches on
        the way, in order."""
        return [e for t in range(1, total_steps + 1) for e in [self.after_step(t)] if e is not None]
