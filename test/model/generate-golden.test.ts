// Decoding is not changed by the decoder's fusions and schedules (decoder.ts, attention-decode.ts
// "rows", per-step submits in generate.ts): the embedded countdown policy samples exactly the
// tokens, finish reasons and log-probabilities recorded from the unfused decoder (commit
// 2f8414a, before them) for the same prompts and seed. Recorded on lavapipe: on this adapter
// the log-probabilities agree bit for bit; the tolerance leaves room for another adapter's
// exp and log (a token flips only if a draw lands within rounding of a boundary).
import { describe, expect, it } from "vitest";
import { generate } from "../../runtime/engine/model/generate.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/numeric.js";

const MODEL = new URL("../../models/countdown-tiny", import.meta.url).pathname;

/** Three countdown prompts of the quickstart's task (numbers 3, values 1..9), each twice. */
const PROMPTS: number[][] = [[1, 57, 87, 73, 4, 21, 4, 26, 4, 24, 4, 83, 82, 71, 73, 4, 73, 69, 71, 76, 4, 91, 77, 88, 76, 4, 15, 4, 17, 4, 14, 4, 19, 4, 88, 83, 4, 81, 69, 79, 73, 4, 21, 20, 18, 4, 55, 76, 83, 91, 4, 87, 88, 73, 84, 87, 16, 4, 88, 76, 73, 82, 4, 106, 73, 85, 89, 69, 88, 77, 83, 82, 107, 18, 3], [1, 57, 87, 73, 4, 24, 4, 25, 4, 24, 4, 83, 82, 71, 73, 4, 73, 69, 71, 76, 4, 91, 77, 88, 76, 4, 15, 4, 17, 4, 14, 4, 19, 4, 88, 83, 4, 81, 69, 79, 73, 4, 21, 21, 18, 4, 55, 76, 83, 91, 4, 87, 88, 73, 84, 87, 16, 4, 88, 76, 73, 82, 4, 106, 73, 85, 89, 69, 88, 77, 83, 82, 107, 18, 3], [1, 57, 87, 73, 4, 23, 4, 22, 4, 29, 4, 83, 82, 71, 73, 4, 73, 69, 71, 76, 4, 91, 77, 88, 76, 4, 15, 4, 17, 4, 14, 4, 19, 4, 88, 83, 4, 81, 69, 79, 73, 4, 29, 18, 4, 55, 76, 83, 91, 4, 87, 88, 73, 84, 87, 16, 4, 88, 76, 73, 82, 4, 106, 73, 85, 89, 69, 88, 77, 83, 82, 107, 18, 3]];

const TOKENS: number[][] = [[99, 16, 4, 26, 15, 21, 33, 27, 18, 4, 100, 16, 4, 27, 15, 24, 33, 21, 20, 18, 4, 102, 16, 4, 106, 26, 15, 21, 15, 24, 107, 2], [99, 16, 4, 26, 17, 21, 33, 25, 18, 4, 100, 16, 4, 25, 15, 24, 33, 21, 20, 18, 4, 102, 16, 4, 106, 25, 15, 21, 15, 24, 107, 2], [99, 16, 4, 25, 14, 24, 33, 22, 20, 18, 4, 100, 16, 4, 22, 20, 17, 24, 33, 21, 21, 18, 4, 103, 16, 4, 106, 25, 14, 24, 17, 24, 107, 2], [99, 16, 4, 24, 15, 24, 33, 28, 18, 4, 104, 16, 4, 28, 15, 24, 33, 21, 21, 18, 4, 102, 16, 4, 106, 25, 15, 24, 15, 24, 107, 2], [99, 16, 4, 29, 17, 23, 33, 26, 18, 24, 18, 4, 101, 16, 4, 21, 13, 107, 2], [99, 16, 4, 23, 14, 22, 33, 26, 18, 4, 101, 16, 4, 29, 14, 23, 33, 29, 18, 4, 103, 16, 4, 106, 29, 17, 12, 23, 14, 22, 13, 107, 2]];

const FINISH = ["eos", "eos", "eos", "eos", "eos", "eos"];

/** log p of the first three sampled tokens of each row. */
const LOGP: number[][] = [[-0.000621795654296875, -0.00022220611572265625, -0.00016307830810546875], [-0.000621795654296875, -0.00022220611572265625, -0.00016307830810546875], [-0.0006170272827148438, -0.00023746490478515625, -0.000225067138671875], [-0.0006170272827148438, -0.00023746490478515625, -0.000225067138671875], [-0.00023555755615234375, -0.000484466552734375, -0.00017547607421875], [-0.00023555755615234375, -0.000484466552734375, -0.00017547607421875]];

describe("generation on the embedded policy", () => {
  it("samples the tokens and log-probabilities the unfused decoder sampled (seed 12, temperature 1)", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, MODEL);
    const rows = PROMPTS.flatMap((p) => [p, p]);
    const g = await generate(policy, rows, { maxNewTokens: 40, temperature: 1, seed: 12, checkEvery: 8 });
    expect(g.tokens).toEqual(TOKENS);
    expect(g.finish).toEqual(FINISH);
    g.logprobs.forEach((l, b) => expectClose(l.slice(0, 3), LOGP[b]!, 1e-5, 1e-5, `row ${b} log p`));
    // Room for 60 tokens, checked every 5: every row has ended by step 35, so decoding stops
    // there early, with the same responses (the stopping check's ids are the result's).
    const early = await generate(policy, rows, { maxNewTokens: 60, temperature: 1, seed: 12, checkEvery: 5 });
    expect(early.tokens).toEqual(TOKENS);
    expect(early.finish).toEqual(FINISH);
    policy.release();
  });
});
