// A loaded policy: checkpoint folder -> tokenizer + GPU weights + transformer, and scoring
// of token sequences (log-probabilities and entropies of each next token).
import type { Gpu } from "../gpu.js";
import { assertIdsInRange } from "../ops/embedding.js";
import { type Checkpoint, loadCheckpoint } from "./checkpoint.js";
import { CheckpointError } from "./safetensors.js";
import { TextTokenizer } from "./tokenizer.js";
import { Transformer } from "./transformer.js";
import { headRowStats, LmHeadStream } from "./lm-head.js";
import { longestRow, paddedRows } from "./padded-batch.js";
import { GpuWeights, type PrecisionChoice } from "./weights.js";

export class Policy {
  readonly model: Transformer;

  constructor(
    readonly gpu: Gpu,
    readonly checkpoint: Checkpoint,
    readonly tokenizer: TextTokenizer,
    readonly weights: GpuWeights,
  ) {
    this.model = new Transformer(gpu, weights);
  }

  /** Load a model folder; `choice` stores its linear weights as f16 (weights.ts) when it says so. */
  static load(gpu: Gpu, dir: string, choice: PrecisionChoice = { precision: "f32" }): Policy {
    const ck = loadCheckpoint(dir);
    if (!ck.tokenizer) throw new CheckpointError(`${dir}: no tokenizer.json (acpo needs the tokenizer to read and write text)`);
    const tok = new TextTokenizer(ck.tokenizer, ck.tokenizerConfig, `${dir}/tokenizer.json`, ck.generationConfig);
    if (tok.vocabSize > ck.config.vocabSize) {
      throw new CheckpointError(`${dir}: tokenizer.json has ${tok.vocabSize} tokens but config.json vocab_size is ${ck.config.vocabSize}`);
    }
    return new Policy(gpu, ck, tok, new GpuWeights(gpu, ck.config, ck.weights, choice));
  }

  get config() {
    return this.weights.config;
  }

  /**
   * For each sequence, logprobs[i] = log p(ids[i+1] | ids[..i]) and entropies[i] the entropy
   * of that next-token distribution (i < length - 1). Sequences are right-padded into one batch.
   */
  async score(seqs: number[][]): Promise<{ logprobs: number[][]; entropies: number[][] }> {
    const V = this.config.vocabSize;
    const B = seqs.length;
    const T = longestRow(seqs);
    if (T > this.config.maxPositions) throw new Error(`sequence of ${T} tokens exceeds max_position_embeddings ${this.config.maxPositions}`);
    seqs.forEach((s, b) => assertIdsInRange(s, V, `sequence ${b}`));
    const { ids, targets, pos } = paddedRows(seqs, T); // every token's next-token distribution
    const gpu = this.gpu, N = B * T;
    const tIds = gpu.upload(ids, [N], "score ids"), tPos = gpu.upload(pos, [N], "score pos"), tTargets = gpu.upload(targets, [N], "score targets");
    const hidden = this.model.forwardHidden(tIds, tPos, B, T, false); // no backward follows
    const logp = gpu.empty([N], "score logp"), H = gpu.empty([N], "score entropy");
    const head = new LmHeadStream(gpu, this.model, N);
    headRowStats(gpu, head, hidden, tTargets, { logp, H });
    head.release();
    const lp = await gpu.read(logp), ent = await gpu.read(H);
    gpu.release(tIds, tPos, tTargets, logp, H);
    return {
      logprobs: seqs.map((s, b) => Array.from(lp.subarray(b * T, b * T + s.length - 1))),
      entropies: seqs.map((s, b) => Array.from(ent.subarray(b * T, b * T + s.length - 1))),
    };
  }

  release(): void {
    this.model.release();
    this.weights.release();
  }
}

