// The one right-padded layout (runtime/engine/model/padded-batch.ts) that the SFT loss, scoring,
// prefill and the RL update read: inputs, next-token targets and positions per slot.
import { describe, expect, it } from "vitest";
import { lmBatch } from "../../runtime/engine/model/lm-loss.js";
import { longestRow, nextTokenSlots, paddedRows } from "../../runtime/engine/model/padded-batch.js";

describe("paddedRows", () => {
  const seqs = [[5, 6, 7], [8], [9, 10]];

  it("puts row b's token t, the token after it and position t at slot b*T + t, 0 past the end", () => {
    const r = paddedRows(seqs, 3);
    expect({ B: r.B, T: r.T }).toEqual({ B: 3, T: 3 });
    expect(Array.from(r.ids)).toEqual([5, 6, 7, 8, 0, 0, 9, 10, 0]);
    expect(Array.from(r.targets)).toEqual([6, 7, 0, 0, 0, 0, 10, 0, 0]);
    expect(Array.from(r.pos)).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2]);
  });

  it("drops the longest row's last input under nextTokenSlots: it is only a target", () => {
    expect(longestRow(seqs)).toBe(3);
    expect(nextTokenSlots(seqs)).toBe(2);
    const r = paddedRows(seqs, nextTokenSlots(seqs));
    expect(Array.from(r.ids)).toEqual([5, 6, 8, 0, 9, 10]);
    expect(Array.from(r.targets)).toEqual([6, 7, 0, 0, 10, 0]);
  });

  it("is the SFT batch's layout, with the mask on the targets from lossFrom on", () => {
    const b = lmBatch(seqs, [1, 0, 0]);
    const r = paddedRows(seqs, 2);
    expect([b.ids, b.targets, b.pos]).toEqual([r.ids, r.targets, r.pos]);
    expect(Array.from(b.mask)).toEqual([0, 1, 0, 0, 1, 0]);
  });
});
