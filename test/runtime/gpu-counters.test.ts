// The per-device counters (Gpu.counters / countersSince): what the dispatch benchmark reports
// as dispatches, submits and readbacks per decoded token and per update.
import { describe, expect, it } from "vitest";
import type { Kernel } from "../../runtime/engine/kernel.js";
import { testGpu } from "../helpers/gpu.js";

const addOne: Kernel = {
  name: "test_counters_add_one",
  bindings: [{ name: "x", access: "read_write" }],
  uniforms: [],
  workgroupSize: [1, 1, 1],
  body: "fn main() { x[0] = x[0] + 1.0; }",
};

describe("gpu counters", () => {
  it("count recorded dispatches, submitted command buffers and buffer maps since a snapshot", async () => {
    const gpu = await testGpu();
    const x = gpu.zeros([4]);
    await gpu.sync();
    const before = gpu.counters();
    for (let i = 0; i < 3; i++) gpu.dispatch(addOne, [x], {}, [1]);
    // One submit carries the three dispatches and the copy to the staging buffer; one map reads it.
    expect(Array.from(await gpu.read(x))).toEqual([3, 0, 0, 0]);
    expect(gpu.countersSince(before)).toEqual({ dispatches: 3, submits: 1, readbacks: 1 });
    // An empty dispatch (zero workgroups) records nothing; a snapshot is a copy, not a view.
    const mid = gpu.counters();
    gpu.dispatch(addOne, [x], {}, [0]);
    gpu.dispatch(addOne, [x], {}, [1]);
    await gpu.sync();
    expect(gpu.countersSince(mid)).toEqual({ dispatches: 1, submits: 1, readbacks: 0 });
    expect(gpu.countersSince(before)).toEqual({ dispatches: 4, submits: 2, readbacks: 1 });
    gpu.release(x);
  });
});
