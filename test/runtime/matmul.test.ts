// The CPU-adapter schedules (register, with its vec4 and scalar forms) against the
// reference, and how matmul picks and validates. GPU schedules: matmul-gpu-schedules.test.ts.
import { describe, expect, it } from "vitest";
import { matmul, matmulVariant } from "../../runtime/engine/ops/matmul.js";
import { testGpu } from "../helpers/gpu.js";
import { scheduleSuite } from "./matmul-schedule-cases.js";

scheduleSuite(["register", "register-scalar"]);

describe("matmul dispatch", () => {
  it("picks the register schedule on a software adapter unless ACPO_MATMUL says otherwise", async () => {
    const gpu = await testGpu();
    const saved = process.env.ACPO_MATMUL;
    try {
      delete process.env.ACPO_MATMUL;
      expect(matmulVariant(gpu)).toBe(gpu.info.isSoftware ? "register" : "tiled");
      process.env.ACPO_MATMUL = "naive";
      expect(matmulVariant(gpu)).toBe("naive");
      process.env.ACPO_MATMUL = "fastest";
      expect(() => matmulVariant(gpu)).toThrow(/unknown matmul variant/);
    } finally {
      if (saved === undefined) delete process.env.ACPO_MATMUL;
      else process.env.ACPO_MATMUL = saved;
    }
  });

  it("rejects undersized and aliased buffers with a message", async () => {
    const gpu = await testGpu();
    const a = gpu.empty([6]), b = gpu.empty([6]), out = gpu.empty([4]);
    expect(() => matmul(gpu, out, a, b, { M: 2, N: 2, K: 4 })).toThrow(/'a' has 6 elements, the arguments need 8/);
    expect(() => matmul(gpu, a, a, b, { M: 2, N: 3, K: 2 })).toThrow(/alias/);
    gpu.release(a, b, out);
  });

  it("covers K = 0 (out = beta * out + bias) and M = 0 (nothing to do)", async () => {
    const gpu = await testGpu();
    const out = gpu.upload(new Float32Array([1, 2, 3, 4, 5, 6]));
    const bias = gpu.upload(new Float32Array([10, 20, 30]));
    const dummy = gpu.empty([1]);
    matmul(gpu, out, dummy, dummy, { M: 2, N: 3, K: 0, beta: 2, bias });
    matmul(gpu, out, dummy, dummy, { M: 0, N: 3, K: 0 });
    expect(Array.from(await gpu.read(out))).toEqual([12, 24, 36, 18, 30, 42]);
  });
});
