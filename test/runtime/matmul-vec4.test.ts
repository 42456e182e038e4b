// The vec4 register schedule without subgroup operations (what software adapters without
// subgroups run; `register` itself takes the subgroup-broadcast form where it can), in its
// own file so its pipelines compile in parallel with the other schedule files.
import { describe, expect, it } from "vitest";
import { hasSubgroups8 } from "../../runtime/ops/matmul.js";
import { registerVec4Kernel, SUBGROUP_VEC4_TILES } from "../../runtime/ops/matmul/register-vec4.js";
import { testGpu } from "../helpers/gpu.js";
import { scheduleSuite } from "./matmul-schedule-cases.js";

scheduleSuite(["register-vec4"]);

describe("subgroup-broadcast vec4 kernel", () => {
  it("is what the register schedule uses on this adapter when it has 8-lane subgroups", async () => {
    const gpu = await testGpu();
    if (gpu.info.isSoftware) expect(hasSubgroups8(gpu)).toBe(gpu.device.features.has("subgroups"));
    const k = registerVec4Kernel({ transA: true, transB: false }, SUBGROUP_VEC4_TILES);
    expect(k.enables).toEqual(["subgroups"]);
    expect(k.workgroupSize).toEqual([8, 1, 1]);
  });
});
