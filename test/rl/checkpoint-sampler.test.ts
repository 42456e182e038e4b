// The prompt sampler's state in trainer_state.json: written as `sampler` (checkpoint version 3);
// checkpoints of versions 1 and 2 named it `loop` and still resume with the same state.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { CHECKPOINT_VERSION } from "../../runtime/loop/run/checkpoint-files.js";
import { RunDir } from "../../runtime/loop/run/run-dir.js";
import { Rng } from "../../runtime/engine/rng.js";
import { ckData, fakeMetrics, tinyModel } from "./run-fixtures.js";

const SAMPLER = { cursor: 32, priorities: { p1: 0.25, p2: null } };

/** A closed run with one checkpoint at step 2; returns its trainer_state.json path. */
function runWithCheckpoint(): { dir: string; statePath: string } {
  const run = RunDir.create({ name: "t", out: join(mkdtempSync(join(tmpdir(), "acpo-sampler-")), "r") });
  run.writeConfig({ pipeline: loadPipeline("examples/grpo.acpo").pipeline!, seed: 0, adapter: "test" });
  for (const step of [1, 2]) run.appendMetrics(fakeMetrics(step, "train", new Rng(step)));
  run.saveCheckpoint(ckData(2, tinyModel(1), new Rng(2)));
  run.close();
  return { dir: run.path, statePath: join(run.path, "checkpoint-2", "trainer_state.json") };
}

type State = Record<string, unknown>;
const readState = (path: string) => JSON.parse(readFileSync(path, "utf8")) as State;

/** The same state as an older acpo wrote it: `loop` instead of `sampler`, at `version`. */
function asOlder(path: string, version: number): void {
  const { sampler, ...rest } = readState(path);
  writeFileSync(path, JSON.stringify({ ...rest, version, loop: sampler }));
}

describe("the sampler's state in a checkpoint", () => {
  it("is written as `sampler` at version 3, with no `loop` field", () => {
    const { statePath } = runWithCheckpoint();
    const state = readState(statePath);
    expect(CHECKPOINT_VERSION).toBe(3);
    expect([state.version, state.sampler, "loop" in state]).toEqual([3, SAMPLER, false]);
  });

  it("is read from `loop` in a version-2 checkpoint (written before the rename)", () => {
    const { dir, statePath } = runWithCheckpoint();
    asOlder(statePath, 2);
    const { run, checkpoint, warnings } = RunDir.open(dir);
    run.close();
    expect(warnings).toEqual([]);
    expect([checkpoint!.step, checkpoint!.sampler]).toEqual([2, SAMPLER]);
  });

  it.each([
    ["a version-3 checkpoint with only the old name", 3, "sampler"],
    ["a version-2 checkpoint with only the new name", 2, "loop"],
  ])("is refused, naming the field, in %s", (_, version, missing) => {
    const { dir, statePath } = runWithCheckpoint();
    if (version === 2) writeFileSync(statePath, JSON.stringify({ ...readState(statePath), version }));
    else asOlder(statePath, 3);
    expect(() => RunDir.open(dir)).toThrow(`${dir}: no complete checkpoint to resume from; every checkpoint is unusable:\n  ${statePath}: field '${missing}' must be an object, found undefined`);
  });
});
