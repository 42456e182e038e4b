// Fixed-size splits for tasks that generate their problems (countdown, arith).
//
// Without a size (0), a split is the task's whole problem space for that split, drawn on
// demand: problems(split, n, seed) is n fresh distinct problems, different for every seed.
// With a size N (the pipeline's `train_size` / `test_size`), the split is a fixed set: the
// first N distinct problems the generator draws under POOL_SEED, the same for every run
// and seed (so two runs, or two methods, evaluate on the same test problems), and
// problems(split, n, seed) is n of those N, chosen by the seed. Asking for more than N is an
// error, as is a size larger than the split's problem space (the generator says so).
import { mixSeed, Rng } from "./rng.js";
import { TaskSpecError, type Split } from "./types.js";

/** Seed of the draw that fixes a sized split: a constant, so the split is a property of the task. */
const POOL_SEED = 0;

/** The sizes' names, for messages: the pipeline's setting and the task option (acpo eval --option). */
const NAME: Record<Split, string> = { train: "train_size", test: "test_size" };
const OPTION: Record<Split, string> = { train: "trainSize", test: "testSize" };

export type Generate<P> = (split: Split, count: number, seed: number) => P[];

export class SplitPool<P> {
  private readonly pools: Partial<Record<Split, P[]>> = {};

  constructor(
    private readonly task: string,
    /** Problems per split; 0 = the split's whole space, drawn on demand. */
    private readonly sizes: Readonly<Record<Split, number>>,
    private readonly generate: Generate<P>,
  ) {}

  /** Number of problems in `split`: its size, or null when drawn on demand. */
  size(split: Split): number | null {
    return this.sizes[split] > 0 ? this.sizes[split] : null;
  }

  /** `count` distinct problems of `split`, a pure function of (options, split, count, seed). */
  problems(split: Split, count: number, seed: number): P[] {
    const size = this.sizes[split];
    if (size === 0) return this.generate(split, count, seed);
    if (count > size) {
      throw new TaskSpecError(`task ${this.task}: asked for ${count} ${split} problems but the ${split} split holds ${size} (${NAME[split]}); ask for at most ${size}, or raise ${NAME[split]} (task option ${OPTION[split]})`);
    }
    return new Rng(mixSeed(seed, `${this.task}/${split}/pick`)).shuffled(this.pool(split, size)).slice(0, count);
  }

  private pool(split: Split, size: number): P[] {
    let pool = this.pools[split];
    if (!pool) {
      try {
        pool = this.generate(split, size, POOL_SEED);
      } catch (e) {
        if (!(e instanceof TaskSpecError)) throw e;
        throw new TaskSpecError(`${e.message}, or lower ${NAME[split]} (task option ${OPTION[split]}, now ${size})`);
      }
      this.pools[split] = pool;
    }
    return pool;
  }
}

/** Largest split size accepted: a fixed split is held in memory and drawn in full once. */
export const MAX_SPLIT_SIZE = 1_000_000;
