import { describe, expect, it } from "vitest";
import { KernelError } from "../../runtime/engine/errors.js";
import { embeddingBackward, embeddingForward } from "../../runtime/engine/ops/embedding.js";
import { Tensor } from "../../runtime/engine/tensor.js";
import { testGpu } from "../helpers/gpu.js";

describe("KernelError blame", () => {
  it("refuses a dispatch whose writable binding overlaps another, naming its kernel", async () => {
    const gpu = await testGpu();
    const V = 8, C = 4, N = 3;
    const t = gpu.zeros([V, C], "table"), ids = gpu.upload(new Uint32Array([1, 2, 3]), [N], "ids"), d = gpu.zeros([N, C], "dout");
    // A writable binding that overlaps a read-only one in the same dispatch: WebGPU forbids it,
    // and Dawn's message (at the end of the batch) names no dispatch. It is refused at the call.
    embeddingBackward(gpu, t, d, ids, { N, C, V, accumulate: true });
    expect(() => embeddingForward(gpu, t, t, ids, { N, C, V })).toThrow(
      "kernel 'embedding_forward': validation error: writable binding 'out' ('table') overlaps binding 'table' ('table') of the same buffer",
    );
    await gpu.sync();
    gpu.release(t, ids, d);
  });

  it("names the kernel whose bind group Dawn rejected when later kernels share the batch", async () => {
    const gpu = await testGpu();
    const V = 8, C = 4, N = 3;
    const table = gpu.zeros([V, C], "table"), ids = gpu.upload(new Uint32Array([1, 2, 3]), [N], "ids"), out = gpu.zeros([N, C], "out");
    // A view past the end of its buffer: only Dawn can tell (the bind group is invalid).
    const past = new Tensor(table.buffer, [V, C], "f32", "table past its end", table.buffer.size);
    embeddingForward(gpu, out, table, ids, { N, C, V });
    embeddingForward(gpu, out, past, ids, { N, C, V });
    embeddingBackward(gpu, table, out, ids, { N, C, V, accumulate: true });
    const err = await gpu.sync().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).kernel).toBe("embedding_forward");
    gpu.release(table, ids, out);
  });
});
