// One Gpu for a command that trains many runs in one process (`acpo compare`, `acpo sweep`).
// A device's memory is not given back when it is destroyed on lavapipe, so a Gpu per run
// leaked each run's whole peak (~1 GB per quickstart run): a 35-run comparison was OOM-killed
// on a 24 GB machine after 11 and again after 10 runs. One shared device whose pool is
// trimmed after every run reuses the same memory instead (Dawn hands a destroyed buffer's
// memory to the next allocation). Each run's results do not depend on the runs before it:
// the trainer builds its model, optimizer and buffers afresh and releases them at the end.
import { existsSync } from "node:fs";
import { Gpu } from "../runtime/engine/gpu.js";
import { finalEval } from "../runtime/loop/report/compare-table.js";
import { type TrainOptions, type TrainResult, train } from "../runtime/loop/rl/trainer.js";
import { RunDir } from "../runtime/loop/run/run-dir.js";
import { SettingsError, resumeSettings } from "../runtime/loop/run/run-resume.js";
import { UserError } from "./errors.js";

/** One run of a series: what `train` is given, its directory always named. */
export type SeriesRun = Omit<TrainOptions, "gpu" | "resume"> & { outDir: string };

export class RunSeries {
  private constructor(private readonly gpu: Gpu) {}

  static async open(): Promise<RunSeries> {
    return new RunSeries(await Gpu.create());
  }

  /** One run on the shared device; its released buffers are destroyed afterwards. */
  async train(o: Omit<TrainOptions, "gpu">): Promise<TrainResult> {
    try {
      return await train({ ...o, gpu: this.gpu });
    } finally {
      this.gpu.trimPool();
    }
  }

  /**
   * One run into `run.outDir`; with `resume` a directory left by an earlier invocation of the
   * series is used instead of refused: a run whose evaluation at its final step exists is
   * reused as it is, after checking that it was started with this pipeline, seed, step count
   * and --set (the check `acpo train --resume` makes); any other is continued from its latest
   * checkpoint. So a series stopped by a crash or the OOM killer loses only its last run.
   * `command` names the series in messages ("compare", "sweep").
   */
  async trainOrReuse(run: SeriesRun, resume: boolean, command: string): Promise<string> {
    if (!resume || !existsSync(run.outDir)) return (await this.train(run)).runDir;
    const given = { pipelinePath: run.pipelinePath, set: run.set, steps: run.steps, seed: run.seed };
    const evaluated = finalEval(run.outDir)?.step;
    if (evaluated !== undefined) {
      let stored: { steps: number | null; set: string[] };
      try {
        stored = resumeSettings(run.outDir, RunDir.storedConfig(run.outDir), given);
      } catch (e) {
        if (e instanceof SettingsError) throw new UserError(`${command} --resume: ${run.outDir} is not this ${command}'s run: ${e.message}`);
        throw e;
      }
      // resumeSettings reads an empty --set as "as the run was started" (acpo train --resume);
      // a series always names its --set, so a run started with another one is not its run, even
      // where the file with the run's --set applied means the run's pipeline.
      const runSet = run.set ?? [];
      if (runSet.join("\n") !== stored.set.join("\n")) {
        const list = (s: readonly string[]) => (s.length ? s.map((a) => `--set ${a}`).join(" ") : "no --set");
        throw new UserError(`${command} --resume: ${run.outDir} is not this ${command}'s run: it was started with ${list(stored.set)}, this ${command} gives ${list(runSet)}; remove the directory or use another --out`);
      }
      const steps = stored.steps;
      if (evaluated === steps) {
        process.stdout.write(`${command}: ${run.outDir} finished earlier (evaluation at step ${steps}): reused\n`);
        return run.outDir;
      }
    }
    process.stdout.write(`${command}: continuing ${run.outDir} from its latest checkpoint\n`);
    return (await this.train({ ...run, resume: run.outDir })).runDir;
  }

  close(): Promise<void> {
    return this.gpu.destroy();
  }
}
