// The memory plan of a pipeline's run (runtime/engine/model/memory.ts) as the CLI shows it: `acpo
// doctor --model DIR [--pipeline FILE]` prints it; `acpo train` refuses, before loading
// weights or sampling, a run whose plan cannot fit the adapter (a buffer over its binding
// limit, or, on a software adapter whose memory is the host's, more bytes than the host has).
import { totalmem } from "node:os";
import { join } from "node:path";
import type { Pipeline } from "../compiler/index.js";
import type { Gpu } from "../runtime/engine/gpu.js";
import { type ModelConfig, readConfig } from "../runtime/engine/model/config.js";
import { CheckpointError } from "../runtime/engine/model/safetensors.js";
import { type DeviceLimits, formatPlan, memoryPlan, type MemoryPlan, type RunShape } from "../runtime/engine/model/memory.js";
import { UserError } from "./errors.js";

/**
 * The run's shapes: a minibatch holds prompts x group / minibatches responses of up to
 * promptTokens + max_tokens slots; sampling holds prompts x group rows of that many positions.
 */
export function runShape(p: Pipeline, promptTokens: number): RunShape {
  const rows = p.rollout.prompts * p.rollout.group;
  const T = promptTokens + p.rollout.maxTokens;
  return {
    trainB: Math.ceil(rows / Math.max(1, Math.min(p.optimizer.minibatches, p.rollout.prompts))),
    trainT: T,
    sampleRows: rows,
    sampleT: T,
    reference: p.stages.some((s) => s.reference.kind !== "none"),
    sharedPrefix: p.rollout.group > 1, // the update runs each prompt once (model/shared-rows.ts)
    ...(p.model.precision ? { precision: p.model.precision } : {}),
  };
}

/** Without a pipeline: one sequence of min(2048, max_position_embeddings) tokens. */
export function defaultShape(c: ModelConfig): RunShape {
  const T = Math.min(2048, c.maxPositions);
  return { trainB: 1, trainT: T, sampleRows: 1, sampleT: T, reference: false };
}

/** The plan on `gpu`, with the host-memory check on a software adapter. */
export function planOn(gpu: Gpu, c: ModelConfig, shape: RunShape): MemoryPlan {
  const plan = memoryPlan(c, limitsOf(gpu), shape);
  if (gpu.info.isSoftware && plan.total > totalmem()) {
    plan.problems.push(`the plan needs ${plan.total} bytes; this software adapter's memory is the host's ${totalmem()} bytes`);
  }
  return plan;
}

export function planText(gpu: Gpu, c: ModelConfig, shape: RunShape, plan: MemoryPlan, what: string): string {
  const memo = gpu.info.isSoftware ? `host memory ${(totalmem() / 2 ** 30).toFixed(1)} GiB` : "WebGPU does not report device memory: compare the total with your GPU's";
  return `${what}: train minibatch ${shape.trainB} x ${shape.trainT} tokens, sampling ${shape.sampleRows} rows x ${shape.sampleT} positions${shape.reference ? ", a reference policy" : ""}${shape.precision === "f16" ? ", precision f16" : ""}; ${memo}\n${formatPlan(plan, limitsOf(gpu), gpu.info.device || gpu.info.description)}`;
}

/** The device's limits as the runtime applies them (ACPO_MAX_BINDING_BYTES may lower the binding limit). */
const limitsOf = (gpu: Gpu): DeviceLimits => ({
  maxStorageBufferBindingSize: gpu.maxBindingBytes,
  maxBufferSize: gpu.device.limits.maxBufferSize,
  minStorageBufferOffsetAlignment: gpu.bindingAlignment,
});

/**
 * Refuse a training run that cannot fit, before it starts. Prompts count as 1 token here
 * (their real lengths are known only after tokenizing), so a refusal is certain.
 */
export function refuseUnfit(gpu: Gpu, p: Pipeline): void {
  let c: ModelConfig;
  try {
    c = readConfig(join(p.model.path, "config.json"));
  } catch (e) {
    if (e instanceof CheckpointError) return; // the trainer reports a bad model folder as it loads it
    throw e;
  }
  const shape = runShape(p, 1);
  const plan = planOn(gpu, c, shape);
  if (plan.problems.length > 0) {
    throw new UserError(`this run cannot fit the adapter (nothing was trained):\n${planText(gpu, c, shape, plan, "memory plan, prompts counted as 1 token")}`);
  }
}
