// Fixed costs: one dispatch submitted and waited for, many dispatches in one submit, and a
// small readback. These bound how small a kernel can usefully be. Then how many of each the
// quickstart step spends (dispatch-counts.ts): per decoded token and per policy update, and
// the step phase by phase in counts and CPU seconds (step-profile.ts, spec/speed.md).
import type { Kernel } from "../../runtime/engine/kernel.js";
import { quickstartCounts } from "./dispatch-counts.js";
import { profileQuickstartStep, profileTable } from "./step-profile.js";
import { fmt, timeIt } from "../lib/timing.js";
import type { BenchContext, Suite, Table } from "../lib/types.js";

const tiny: Kernel = {
  name: "bench_tiny",
  bindings: [{ name: "x", access: "read_write" }],
  uniforms: [{ name: "v", type: "f32" }],
  workgroupSize: [1, 1, 1],
  body: "fn main() { x[0] = x[0] + u.v; }",
};

export const dispatchSuite: Suite = {
  name: "dispatch",
  description: "fixed cost of a dispatch, of many dispatches per submit, and of a small readback; dispatches, submits and readbacks per decoded token and per update of the quickstart step; the step by phase in counts and CPU seconds",
  async run(ctx: BenchContext): Promise<Table[]> {
    const gpu = await ctx.gpu();
    const seconds = ctx.quick ? 0.2 : 1;
    const x = gpu.zeros([16]);
    const rows: (string | number)[][] = [];
    const one = await timeIt(async () => {
      gpu.dispatch(tiny, [x], { v: 1 }, [1]);
      await gpu.sync();
    }, { minSeconds: seconds });
    rows.push(["1 dispatch, submit, wait", fmt(one.median * 1e6, 0), fmt(one.min * 1e6, 0)]);
    for (const n of [100, 1000]) {
      const many = await timeIt(async () => {
        for (let i = 0; i < n; i++) gpu.dispatch(tiny, [x], { v: 1 }, [1]);
        await gpu.sync();
      }, { minSeconds: seconds });
      rows.push([`${n} dispatches in one submit, per dispatch`, fmt((many.median / n) * 1e6, 1), fmt((many.min / n) * 1e6, 1)]);
    }
    const rb = await timeIt(async () => {
      await gpu.read(x);
    }, { minSeconds: seconds });
    rows.push(["readback of 16 floats (gpu.read)", fmt(rb.median * 1e6, 0), fmt(rb.min * 1e6, 0)]);
    gpu.release(x);
    const counts = await quickstartCounts(gpu, ctx.log);
    const profile = await profileQuickstartStep(gpu, ctx.log);
    return [counts, profileTable(profile.phases, profile.responseTokens), {
      title: "fixed costs, microseconds",
      columns: ["what", "median us", "min us"],
      rows,
      notes: ["a 1-invocation kernel; wall-clock from recording to the queue reporting completion"],
    }];
  },
};
