// Code generation for one stage: the IR program and a schedule in, the stage's kernels
// (plain data, runtime/engine/kernel.ts) and the layout the runner needs out. Kernel order:
//   prepass (logits mode, only when a reduction reads logp/H) -> statistics phases ->
//   values (per group/sequence/step) -> loss head -> summary.
// `loss_head_policy` replaces prepass + loss head when the caller gives logp and H instead
// of logits (replay of a batch without logits); it writes no dlogits.
import type { Kernel } from "../../runtime/engine/kernel.js";
import type { Level } from "../levels.js";
import type { StageProgram } from "../ir/stage.js";
import { analyzeStage, slotOffsets, type StageLayout } from "./layout.js";
import { phaseKernel } from "./reduce.js";
import { lossHeadKernel, lossHeadPolicyKernel, prepassKernel, valuesKernel } from "./loss-head.js";
import { checkSchedule, DEFAULT_SCHEDULE, type Schedule } from "./schedule.js";
import { summaryKernel } from "./summary.js";

export type KernelRole = "prepass" | "phase" | "values" | "loss_head" | "loss_head_policy" | "summary";

export interface StageKernel {
  role: KernelRole;
  /** For phases: the levels of its reductions, in workgroup order (units per level). */
  levels?: Level[];
  kernel: Kernel;
}

export interface StageKernels {
  stage: string;
  schedule: Schedule;
  layout: StageLayout;
  /** Param names, in uniform order (p_<name>), with the compile-time values. */
  params: Record<string, number>;
  kernels: StageKernel[];
  /** Named values (lets, fn call sites, advantage, base_advantage) readable from stats. */
  named: { name: string; level: Level; node: number }[];
  uses: StageProgram["uses"];
}

export function generateStage(prog: StageProgram, schedule: Schedule = DEFAULT_SCHEDULE): StageKernels {
  checkSchedule(schedule);
  const layout = analyzeStage(prog);
  const offsets = slotOffsets(layout);
  const params = Object.keys(prog.params).sort();
  const pre = `${prog.stage}_`;
  const kernels: StageKernel[] = [];
  if (layout.needsPolicy) kernels.push({ role: "prepass", kernel: prepassKernel(`${pre}prepass`, params, schedule.lanes) });
  const readable = new Map<number, [number, number, number, number]>();
  layout.phases.forEach((phase, i) => {
    kernels.push({ role: "phase", levels: phase.map((s) => s.level), kernel: phaseKernel(`${pre}stats${i}`, prog.nodes, phase, readable, offsets, params, schedule.lanes) });
    for (const s of phase) readable.set(s.node, offsets.get(s.node)!);
  });
  if (layout.values.length > 0) kernels.push({ role: "values", kernel: valuesKernel(`${pre}values`, prog, layout.values, new Map(readable), offsets, params, schedule.elementwise) });
  for (const s of layout.values) readable.set(s.node, offsets.get(s.node)!);
  kernels.push({ role: "loss_head", kernel: lossHeadKernel(`${pre}loss_head`, prog, readable, params, schedule.lanes) });
  kernels.push({ role: "loss_head_policy", kernel: lossHeadPolicyKernel(`${pre}loss_head_policy`, prog, readable, params, schedule.elementwise) });
  kernels.push({ role: "summary", kernel: summaryKernel(`${pre}summary`, schedule.lanes) });
  const named = prog.named
    .filter((x) => offsets.has(x.node) && x.level !== "token" && x.level !== "scalar")
    .map((x) => ({ name: x.name, level: x.level, node: x.node }));
  return { stage: prog.stage, schedule, layout, params: { ...prog.params }, kernels, named, uses: prog.uses };
}
