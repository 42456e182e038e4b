// One Gpu for a command that trains many runs in one process (`acpo compare`, `acpo sweep`).
// A device's memory is not given back when it is destroyed on lavapipe, so a Gpu per run
// leaked each run's whole peak (~1 GB per quickstart run): a 35-run comparison was OOM-killed
// on a 24 GB machine after 11 and again after 10 runs. One shared device whose pool is
// trimmed after every run reuses the same memory instead (Dawn hands a destroyed buffer's
// memory to the next allocation). Each run's results do not depend on the runs before it:
// the trainer builds its model, optimizer and buffers afresh and releases them at the end.
import { Gpu } from "../runtime/engine/gpu.js";
import { type TrainOptions, type TrainResult, train } from "../runtime/loop/rl/trainer.js";

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

  close(): Promise<void> {
    return this.gpu.destroy();
  }
}
