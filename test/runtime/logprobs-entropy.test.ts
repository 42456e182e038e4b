// The fused loss head must equal the separate ops in forward, and their sum in backward.
import { describe, expect, it } from "vitest";
import { entropyBackward, entropyForward } from "../../runtime/engine/ops/entropy.js";
import { logprobsEntropyBackward, logprobsEntropyForward } from "../../runtime/engine/ops/logprobs-entropy.js";
import { logprobsEntropyBackwardRef, logprobsEntropyForwardRef } from "../../runtime/engine/ops/logprobs-entropy.ref.js";
import { logprobsBackward, logprobsForward } from "../../runtime/engine/ops/logprobs.js";
import { ROW_WG } from "../../runtime/engine/ops/rowstats.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray, randInts } from "../helpers/numeric.js";

const EPS32 = 2 ** -24;
const tol = (V: number, span: number): number => 2 * EPS32 * (V / ROW_WG + 8) * (1 + span);

describe("fused logprobs + entropy (loss head)", () => {
  it.each([
    [1, 1],
    [13, 64],
    [13, 1000],
    [1, 150000],
  ])("forward equals the separate ops and the reference for N=%i V=%i", async (N, V) => {
    const gpu = await testGpu();
    const logits = randArray(N * V, 91 + V, -8, 8);
    if (N * V > 3) { logits[2] = -Infinity; logits[3] = 1e30; }
    const ids = randInts(N, 92, V);
    const tx = gpu.upload(logits, [N, V]), tids = gpu.upload(ids);
    const logp = gpu.empty([N]), lse = gpu.empty([N]), H = gpu.empty([N]);
    logprobsEntropyForward(gpu, logp, lse, H, tx, tids, { N, V });
    const logp2 = gpu.empty([N]), lse2 = gpu.empty([N]), H2 = gpu.empty([N]);
    logprobsForward(gpu, logp2, lse2, tx, tids, { N, V });
    entropyForward(gpu, H2, null, tx, { N, V });
    const got = { logp: await gpu.read(logp), lse: await gpu.read(lse), H: await gpu.read(H) };
    // The variants run the same online update; they agree bit for bit on lavapipe. A compiler
    // may contract differently per variant, so allow an ulp or two.
    expectClose(got.logp, await gpu.read(logp2), 0, 2 * EPS32, "fused vs separate logp");
    expectClose(got.lse, await gpu.read(lse2), 0, 2 * EPS32, "fused vs separate lse");
    expectClose(got.H, await gpu.read(H2), 0, 2 * EPS32, "fused vs separate H");
    const ref = { logp: new Float64Array(N), lse: new Float64Array(N), H: new Float64Array(N) };
    logprobsEntropyForwardRef(ref.logp, ref.lse, ref.H, f64(logits), ids, N, V);
    const abs = logits[3] === 1e30 ? 1e30 : 8;
    expectClose(got.logp, ref.logp, tol(V, 0) + 2 * EPS32 * abs, 0, "logp");
    expectClose(got.lse, ref.lse, tol(V, 0), 2 * EPS32, "lse");
    expectClose(got.H, ref.H, tol(V, 16), 0, "H");
  });

  it("reference backward matches float64 finite differences of dlogp.logp + dH.H", () => {
    const N = 4, V = 29;
    const x = f64(randArray(N * V, 93, -3, 3));
    x[5] = -Infinity;
    const ids = randInts(N, 94, V);
    const dlogp = f64(randArray(N, 95)), dH = f64(randArray(N, 96));
    const logp = new Float64Array(N), lse = new Float64Array(N), H = new Float64Array(N);
    const loss = (): number => {
      logprobsEntropyForwardRef(logp, lse, H, x, ids, N, V);
      return dot(logp, dlogp) + dot(H, dH);
    };
    const fd = finiteDiff(loss, x);
    logprobsEntropyForwardRef(logp, lse, H, x, ids, N, V);
    const grad = new Float64Array(N * V);
    logprobsEntropyBackwardRef(grad, dlogp, dH, x, ids, lse, H, N, V);
    expectClose(grad, fd, 1e-8, 1e-6, "dlogits vs FD");
  });

  it.each([
    [1, 1],
    [13, 64],
    [5, 1000],
    [1, 150000],
  ])("GPU backward matches the reference and the separate backwards for N=%i V=%i", async (N, V) => {
    const gpu = await testGpu();
    const logits = randArray(N * V, 97 + V, -6, 6);
    if (N * V > 1) logits[1] = -Infinity;
    const ids = randInts(N, 98, V);
    const dlogp = randArray(N, 99), dH = randArray(N, 100);
    const tx = gpu.upload(logits, [N, V]), tids = gpu.upload(ids), tdl = gpu.upload(dlogp), tdH = gpu.upload(dH);
    const logp = gpu.empty([N]), lse = gpu.empty([N]), H = gpu.empty([N]);
    logprobsEntropyForward(gpu, logp, lse, H, tx, tids, { N, V });
    const dx = gpu.empty([N, V]), dx2 = gpu.empty([N, V]);
    logprobsEntropyBackward(gpu, dx, tdl, tdH, tx, tids, lse, H, { N, V });
    logprobsBackward(gpu, dx2, tdl, tx, tids, lse, { N, V });
    entropyBackward(gpu, dx2, tdH, tx, lse, H, { N, V, accumulate: true });
    const got = await gpu.read(dx);
    const ref = new Float64Array(N * V);
    logprobsEntropyBackwardRef(ref, f64(dlogp), f64(dH), f64(logits), ids, f64(await gpu.read(lse)), f64(await gpu.read(H)), N, V);
    const atol = 64 * EPS32 * 31;
    expectClose(got, ref, atol, 16 * EPS32, "fused dlogits");
    // Same terms in the same order; only a fused multiply-add may round differently.
    expectClose(got, await gpu.read(dx2), 4 * EPS32, 4 * EPS32, "fused vs separate");
  });

  it("folds more than 65535 rows into a second grid dimension (forward and backward)", async () => {
    const gpu = await testGpu();
    const N = 65535 + 1234, V = 3;
    const logits = randArray(N * V, 101, -4, 4);
    const ids = randInts(N, 102, V);
    const dlogp = randArray(N, 103), dH = randArray(N, 104);
    const tx = gpu.upload(logits, [N, V]), tids = gpu.upload(ids);
    const logp = gpu.empty([N]), lse = gpu.empty([N]), H = gpu.empty([N]), dx = gpu.empty([N, V]);
    logprobsEntropyForward(gpu, logp, lse, H, tx, tids, { N, V });
    logprobsEntropyBackward(gpu, dx, gpu.upload(dlogp), gpu.upload(dH), tx, tids, lse, H, { N, V });
    const ref = { logp: new Float64Array(N), lse: new Float64Array(N), H: new Float64Array(N), dx: new Float64Array(N * V) };
    logprobsEntropyForwardRef(ref.logp, ref.lse, ref.H, f64(logits), ids, N, V);
    logprobsEntropyBackwardRef(ref.dx, f64(dlogp), f64(dH), f64(logits), ids, ref.lse, ref.H, N, V);
    expectClose(await gpu.read(logp), ref.logp, 1e-5, 1e-5, "logp");
    expectClose(await gpu.read(H), ref.H, 1e-5, 1e-5, "H");
    expectClose(await gpu.read(dx), ref.dx, 1e-5, 1e-5, "dlogits");
  });
});
