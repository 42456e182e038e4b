// How acpo's RL step time grows: against model size (the tiny, small and base presets and a
// 2-layer Qwen2-shaped model), response length and vocabulary size. Each point is a GRPO step
// (examples/grpo.acpo: rollout of 16 prompts x 8, verification, update) on a random-weight
// model written to a temporary folder, timed by the trainer's own metrics; the table gives
// rollout + update seconds and the fitted log-log exponent of each axis.
// `npm run bench -- --only scaling [--quick]`: --quick measures 2 points per axis.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CHAR_TOKENIZER_WORDS } from "../../cli/commands/init-model.js";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { type ModelConfig, parseConfig } from "../../runtime/engine/model/config.js";
import { parameterCount } from "../../runtime/engine/model/layout.js";
import { initWeights, PRESETS } from "../../runtime/engine/model/presets.js";
import { charTokenizerFiles } from "../../runtime/engine/model/tokenizer.js";
import { logLogSlope } from "../lib/fit.js";
import { acpoSteps, median } from "../lib/rl-step.js";
import { fmt } from "../lib/timing.js";
import type { BenchContext, Suite, Table } from "../lib/types.js";

const GRPO = "examples/grpo.acpo";
/** Room for the prompt (about 75 tokens) and the longest response measured. */
const MAX_POSITIONS = 512;

type Arch = "tiny" | "small" | "base" | "qwen2";

interface Point {
  arch: Arch;
  vocab: number;
  maxTokens: number;
}

interface Measured extends Point {
  params: number;
  rollout: number;
  update: number;
  /** Mean response length (a random model stops at EOS with chance about 1/V per token). */
  tokens: number;
}

/** A char tokenizer grown to `vocab` entries with filler words the prompts never contain. */
function tokenizerFiles(vocab: number): ReturnType<typeof charTokenizerFiles> {
  const base = charTokenizerFiles(CHAR_TOKENIZER_WORDS);
  const have = Object.keys((base.tokenizer.model as { vocab: object }).vocab).length;
  const filler = Array.from({ length: Math.max(0, vocab - have) }, (_, i) => `<w${i}>`);
  return charTokenizerFiles([...CHAR_TOKENIZER_WORDS, ...filler]);
}

/** The model config of an architecture: a preset, or a 2-layer Qwen2 (q/k/v biases, untied head). */
function configFor(arch: Arch, vocab: number): ModelConfig {
  const special = { bos_token_id: 1, eos_token_id: 2, vocab_size: vocab, max_position_embeddings: MAX_POSITIONS };
  if (arch === "qwen2") {
    return parseConfig({
      architectures: ["Qwen2ForCausalLM"], hidden_size: 64, intermediate_size: 176, num_hidden_layers: 2, num_attention_heads: 4,
      num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false, initializer_range: 0.02, ...special,
    }, "scaling qwen2");
  }
  return parseConfig({ ...PRESETS[arch]!.config, ...special }, `scaling ${arch}`);
}

function writeModel(p: Point): { dir: string; params: number; vocab: number } {
  const files = tokenizerFiles(p.vocab);
  const vocab = Object.keys((files.tokenizer.model as { vocab: object }).vocab).length;
  const config = configFor(p.arch, vocab);
  const dir = mkdtempSync(join(tmpdir(), `acpo-bench-scaling-${p.arch}-`));
  saveCheckpoint(dir, { config, weights: initWeights(config, 0), tokenizer: files.tokenizer, tokenizerConfig: files.tokenizerConfig, generationConfig: {} });
  return { dir, params: parameterCount(config), vocab };
}

/** examples/grpo.acpo on another model folder and response length. */
function pipelineFor(src: string, modelDir: string, maxTokens: number): string {
  const out = src.replace(/model\s+"[^"]*"/, `model ${JSON.stringify(modelDir)}`).replace(/max_tokens\s+\d+/, `max_tokens ${maxTokens}`);
  if (out === src || !out.includes(`max_tokens ${maxTokens}`)) throw new Error(`${GRPO}: could not set its model and max_tokens for the scaling suite`);
  return out;
}

async function measure(ctx: BenchContext, src: string, p: Point, steps: number): Promise<Measured> {
  const m = writeModel(p);
  ctx.log(`scaling: ${p.arch}, V ${m.vocab}, ${p.maxTokens} tokens (${(m.params / 1e6).toFixed(2)} M params)`);
  const records = await acpoSteps(await ctx.gpu(), GRPO, pipelineFor(src, m.dir, p.maxTokens), steps);
  return {
    ...p, vocab: m.vocab, params: m.params,
    rollout: median(records.map((r) => r.time_rollout_s)),
    update: median(records.map((r) => r.time_update_s)),
    tokens: records.reduce((s, r) => s + r.response_length_mean, 0) / records.length,
  };
}

function axisTable(title: string, axis: string, xs: (m: Measured) => number, label: (m: Measured) => string, ms: Measured[], notes: string[]): Table {
  const step = (m: Measured): number => m.rollout + m.update;
  const k = (f: (m: Measured) => number): string => fmt(logLogSlope(ms.map(xs), ms.map(f)), 2);
  return {
    title,
    columns: [axis, "params (M)", "V", "max tokens", "mean resp tokens", "rollout s", "update s", "step s", "ms / resp token"],
    rows: [
      ...ms.map((m) => [label(m), fmt(m.params / 1e6, 2), m.vocab, m.maxTokens, fmt(m.tokens, 1), fmt(m.rollout, 2), fmt(m.update, 2), fmt(step(m), 2), fmt((1000 * step(m)) / (128 * m.tokens), 3)]),
      [`fitted exponent (step ~ ${axis}^k)`, "", "", "", "", k((m) => m.rollout), k((m) => m.update), k(step), k((m) => step(m) / m.tokens)],
    ],
    notes,
  };
}

export const scalingSuite: Suite = {
  name: "scaling",
  description: "acpo GRPO step time (rollout + update) vs model size, response length and vocabulary, with fitted exponents",
  async run(ctx: BenchContext): Promise<Table[]> {
    const src = readFileSync(resolve(GRPO), "utf8");
    const steps = 1; // after one warm-up step (kernel compiles); a step is seconds to minutes here
    // --quick keeps a size spread (tiny to small, 8x the parameters): the Qwen2-shaped model has
    // about tiny's size, so tiny + qwen2 alone would fit an exponent to noise.
    const archs: Arch[] = ctx.quick ? ["tiny", "small"] : ["tiny", "qwen2", "small", "base"];
    const lengths = ctx.quick ? [32, 64] : [32, 64, 128, 256];
    const vocabs = ctx.quick ? [128, 512] : [128, 512, 2048, 8192];
    const common = [
      `each point: ${steps} GRPO step of ${GRPO} (16 prompts x 8) after a warm-up step, random-weight model (seed 0), timed by the trainer; step = rollout + update (verification excluded)`,
      "a random model ends a response at EOS with chance about 1/V per token, so responses are shorter than max tokens at small V: 'ms / resp token' and its exponent correct for that",
    ];
    // The axes share their base point (tiny, V 128, 96 tokens): measure each point once.
    const seen = new Map<string, Measured>();
    const at = async (p: Point): Promise<Measured> => {
      const key = `${p.arch}/${p.vocab}/${p.maxTokens}`;
      if (!seen.has(key)) seen.set(key, await measure(ctx, src, p, steps));
      return seen.get(key)!;
    };
    const bySize: Measured[] = [];
    for (const arch of archs) bySize.push(await at({ arch, vocab: 128, maxTokens: 96 }));
    const byLength: Measured[] = [];
    for (const n of lengths) byLength.push(await at({ arch: "tiny", vocab: 128, maxTokens: n }));
    const byVocab: Measured[] = [];
    for (const v of vocabs) byVocab.push(await at({ arch: "tiny", vocab: v, maxTokens: 96 }));
    bySize.sort((a, b) => a.params - b.params);
    return [
      axisTable("RL step vs model size", "params", (m) => m.params, (m) => m.arch, bySize, [...common, "qwen2: 2 layers, width 64, 4 heads (2 kv), q/k/v biases, untied head; the others are runtime/engine/model/presets.ts; max tokens 96, V about 128"]),
      axisTable("RL step vs response length", "mean resp tokens", (m) => m.tokens, (m) => `max ${m.maxTokens}`, byLength, [...common, "tiny preset, V about 128; the exponent is fitted against the mean response length measured"]),
      axisTable("RL step vs vocabulary", "V", (m) => m.vocab, (m) => `V ${m.vocab}`, byVocab, [...common, "tiny preset, max tokens 96; the vocabulary grows with filler words the prompts never contain"]),
    ];
  },
};
