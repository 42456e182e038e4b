// The progress display: one redrawn line on a TTY, plain lines otherwise, notes, ETA.
import { describe, expect, it } from "vitest";
import { formatBar, formatDuration, formatProgress, Progress } from "../../runtime/loop/run/progress.js";

function capture(isTTY: boolean, columns = 120) {
  const out: string[] = [];
  return { out, stream: { isTTY, columns, write: (s: string) => out.push(s) } };
}

const m = (step: number, stage = "explore") => ({ step, stage, reward_mean: 0.41234, accuracy: 0.375, entropy_mean: 1.23456 });

describe("progress display", () => {
  it("formats durations, bars and the status text", () => {
    expect([5, 59.4, 60, 1211, 3600, 11040, NaN, -1].map(formatDuration)).toEqual(["5s", "59s", "1m00s", "20m11s", "1h00m", "3h04m", "?", "?"]);
    expect(formatBar(3, 12, 8)).toBe("[##......]");
    expect(formatBar(20, 12, 4)).toBe("[####]");
    expect(formatProgress({ step: 12, total: 300, stage: "explore", reward: 0.41234, accuracy: 0.375, entropy: 1.23456, secondsPerStep: 4.2 })).toBe(
      "step 12/300  [explore]  reward 0.412  acc 37.5%  H 1.235  4.20 s/step  ETA 20m10s",
    );
    expect(formatProgress({ step: 1, total: 2, stage: "s", reward: NaN, accuracy: NaN, entropy: NaN, secondsPerStep: NaN })).toBe("step 1/2  [s]  reward -  acc -  H -  - s/step  ETA ?");
    // Unknown total (a stage that ends on a condition): no ETA, and no bar on a TTY.
    expect(formatProgress({ step: 7, total: null, stage: "s", reward: 1, accuracy: 1, entropy: 0, secondsPerStep: 2 })).toBe("step 7  [s]  reward 1.000  acc 100.0%  H 0.000  2.00 s/step");
    const { out, stream } = capture(true);
    new Progress({ total: null, stream, now: () => 0 }).update(m(2));
    expect(out[0]).toBe("\rstep 2  [explore]  reward 0.412  acc 37.5%  H 1.235  0.00 s/step\x1b[K");
  });

  it("prints one plain line per step when not a TTY, with s/step from the clock", () => {
    const { out, stream } = capture(false);
    let t = 1000;
    const p = new Progress({ total: 10, stream, now: () => t, window: 2 });
    t += 2000;
    p.update(m(1));
    t += 4000;
    p.update(m(2));
    t += 6000;
    p.update(m(3));
    p.note("eval at step 3: acc@8 40.0 %");
    p.done();
    expect(out).toEqual([
      "step 1/10  [explore]  reward 0.412  acc 37.5%  H 1.235  2.00 s/step  ETA 18s\n",
      "step 2/10  [explore]  reward 0.412  acc 37.5%  H 1.235  3.00 s/step  ETA 24s\n",
      "step 3/10  [explore]  reward 0.412  acc 37.5%  H 1.235  5.00 s/step  ETA 35s\n", // window of 2: (4 + 6) / 2
      "eval at step 3: acc@8 40.0 %\n",
    ]);
  });

  it("redraws a single line on a TTY, keeps notes above it, never wraps, and ends with a newline", () => {
    const { out, stream } = capture(true, 120);
    let t = 0;
    const p = new Progress({ total: 4, stream, now: () => t });
    t += 1000;
    p.update(m(1));
    expect(out[0]).toBe("\r[#####...............] step 1/4  [explore]  reward 0.412  acc 37.5%  H 1.235  1.00 s/step  ETA 3s\x1b[K");
    expect(out[0]!.includes("\n")).toBe(false);
    p.note("saved checkpoint-1");
    expect(out.slice(1)).toEqual(["\r\x1b[Ksaved checkpoint-1\n", `${out[0]!.slice(1)}`]);
    p.done();
    expect(out[out.length - 1]).toBe("\n");
    const narrow = capture(true, 30);
    new Progress({ total: 4, stream: narrow.stream, now: () => 0 }).update(m(1, "converge"));
    expect(narrow.out[0]).toBe(`\r${"step 1/4  [converge]  reward 0.412".slice(0, 29)}\x1b[K`);
  });

  it("prints nothing when quiet", () => {
    const { out, stream } = capture(true);
    const p = new Progress({ total: 4, stream, quiet: true });
    p.update(m(1));
    p.note("x");
    p.done();
    expect(out).toEqual([]);
  });
});
