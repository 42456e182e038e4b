// The software adapter's idle wait (runtime/engine/idle-wait.ts): which threads it watches,
// how it reads their state, when it stops sleeping, and that it turns itself off when a
// watched thread never sleeps.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AdapterThreads, MAX_POLL_MS, pollInterval, SETTLE_LIMIT_MS, SPIN_MS, statState, type ThreadReader } from "../../runtime/engine/idle-wait.js";
import { matmul } from "../../runtime/engine/ops/matmul.js";
import { testGpu } from "../helpers/gpu.js";

/** A reader over a script: thread tid's state at poll k is states[tid][k] (the last one repeats); `poll` counts the sleeps. */
function scripted(tids: number[], states: Record<number, (string | null)[]>): ThreadReader & { reads: number; poll: number } {
  const r = {
    reads: 0,
    poll: 0,
    tids: () => tids,
    state(tid: number) {
      r.reads++;
      const seq = states[tid] ?? [null];
      return seq[Math.min(r.poll, seq.length - 1)]!;
    },
  };
  return r;
}

describe("statState", () => {
  it.each([
    ["4242 (node) S 1 4242 4242 0 -1", "S"],
    ["4243 (node) R 1 4242 4242 0 -1", "R"],
    ["17 (a) R (b) D 1 2 3", "D"], // a command name holding ") R (": the state follows the last ')'
    ["18 (llvmpipe-0) S 1", "S"],
    ["garbage without a name", null],
    ["19 (x) 1 2", null], // no state letter where one belongs
  ])("%j -> %j", (line, state) => {
    expect(statState(line)).toBe(state);
  });
});

describe("AdapterThreads", () => {
  it("watches the threads born since the snapshot, and nothing where none was born or there is no /proc", () => {
    expect(AdapterThreads.bornSince([1, 2], scripted([1, 2, 5, 7], {}))?.tids).toEqual([5, 7]);
    expect(AdapterThreads.bornSince([1, 2], scripted([1, 2], {}))).toBeNull();
    expect(AdapterThreads.bornSince(null, scripted([1, 2, 5], {}))).toBeNull();
    expect(AdapterThreads.bornSince([1], { tids: () => null, state: () => null })).toBeNull();
  });

  it("sleeps while any watched thread is runnable and stops once all sleep or have exited", async () => {
    const reader = scripted([5, 7], { 5: ["R", "S", "S", "S"], 7: ["S", "R", "R", null] });
    const sleeps: number[] = [];
    const w = new AdapterThreads([5, 7], reader, async (ms) => { sleeps.push(ms); reader.poll++; }, () => 0);
    await w.settle();
    // poll 0: 5 R -> sleep; polls 1, 2: 7 R -> sleep; poll 3: 5 S, 7 gone -> done
    expect(sleeps).toEqual([0, 0, 0]); // the clock stands still: within SPIN_MS, a turn of the event loop each time
    expect(reader.poll).toBe(3);
    expect(w.enabled).toBe(true);
  });

  it("polls every turn of the event loop for SPIN_MS, then sleeps a sixteenth of the wait so far, from 1 ms to MAX_POLL_MS", async () => {
    expect([0, 0.49, SPIN_MS, 15, 16, 47, 48, 255, 256, 1000, 9000].map(pollInterval)).toEqual([0, 0, 1, 1, 1, 2, 3, 15, MAX_POLL_MS, MAX_POLL_MS, MAX_POLL_MS]);
    const reader = scripted([5], { 5: ["R", "S"] }); // runnable until the clock reaches 600 ms
    let clock = 0;
    const sleeps: number[] = [];
    // A turn of the event loop takes 0.125 ms of this clock.
    const w = new AdapterThreads([5], reader, async (ms) => { sleeps.push(ms); clock += ms || 0.125; if (clock >= 600) reader.poll = 1; }, () => clock);
    await w.settle();
    const turns = SPIN_MS / 0.125;
    expect(sleeps.slice(0, turns + 4)).toEqual([...Array(turns).fill(0), 1, 1, 1, 1]);
    expect(Math.max(...sleeps)).toBe(MAX_POLL_MS);
    expect(sleeps.filter((ms) => ms > 0).length).toBeLessThan(100); // timer sleeps, against 600 at 1 ms
  });

  it("turns itself off when a watched thread stays runnable past the limit, and then never reads again", async () => {
    const reader = scripted([9], { 9: ["R"] });
    let clock = 0;
    const w = new AdapterThreads([9], reader, async () => { clock += 1000; }, () => clock);
    await w.settle();
    expect(w.enabled).toBe(false);
    expect(clock).toBe(SETTLE_LIMIT_MS + 1000); // the first poll past the limit ends it
    const reads = reader.reads;
    await w.settle();
    expect(reader.reads).toBe(reads);
  });

  it("on a software adapter under Linux: watches threads of this process other than the main one, and waits give the same values", async () => {
    const gpu = await testGpu();
    if (!gpu.info.isSoftware || !existsSync("/proc/self/task")) {
      expect(gpu.adapterThreads).toBeNull();
      return;
    }
    const w = gpu.adapterThreads!;
    expect(w).not.toBeNull();
    expect(w.tids).not.toContain(process.pid);
    for (const t of w.tids) expect(existsSync(`/proc/self/task/${t}`)).toBe(true);
    // A product of integers (exact in f32) read back after a settled wait.
    const n = 67;
    const a = gpu.upload(Float32Array.from({ length: n * n }, (_, i) => (i % 7) - 3), [n, n]);
    const b = gpu.upload(Float32Array.from({ length: n * n }, (_, i) => (i % 5) - 2), [n, n]);
    const c = gpu.empty([n, n]);
    matmul(gpu, c, a, b, { M: n, N: n, K: n });
    const got = await gpu.read(c);
    const want = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { let s = 0; for (let k = 0; k < n; k++) s += ((i * n + k) % 7 - 3) * ((k * n + j) % 5 - 2); want[i * n + j] = s; }
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(w.enabled).toBe(true);
    gpu.release(a, b, c);
  });
});
