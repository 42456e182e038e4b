// `acpo doctor` shows the matmul schedules tuned for this adapter (from the cache file), or
// says why there is no table: ACPO_MATMUL overrides, ACPO_AUTOTUNE=0, or nothing timed yet.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { scheduleLines } from "../../cli/commands/doctor.js";
import { adapterKey } from "../../runtime/engine/ops/matmul-autotune.js";
import { matmulScheduleReport } from "../../runtime/engine/ops/matmul.js";
import { testGpu } from "../helpers/gpu.js";

const entry = { variant: "register-scalar", ms: { register: 2.5, "register-scalar": 1.25 }, candidates: ["register", "register-scalar"], timedOn: "100x64x64 x1" };

describe("acpo doctor: matmul schedules", () => {
  it("prints the adapter's tuned classes from the cache (and not another adapter's)", async () => {
    const gpu = await testGpu();
    const dir = mkdtempSync(join(tmpdir(), "acpo-doctor-mm-"));
    writeFileSync(join(dir, "matmul-schedules.json"), JSON.stringify({ format: "acpo-matmul-schedules", version: 1, adapters: { [adapterKey(gpu.info)]: { "nn m128 n64 k64 b1 v4": entry }, "another adapter": { "nn m8 n8 k8 b1": entry } } }));
    const env: NodeJS.ProcessEnv = { ...process.env, ACPO_CACHE_DIR: dir };
    delete env.ACPO_AUTOTUNE;
    delete env.ACPO_MATMUL;
    const r = spawnSync(process.execPath, ["cli/acpo.js", "doctor"], { encoding: "utf8", timeout: 300_000, env });
    expect(r.status).toBe(0);
    const def = gpu.info.isSoftware ? "register" : "tiled";
    expect(r.stdout).toContain(`matmul:      schedules timed on this adapter for 1 shape class(es) (cache ${join(dir, "matmul-schedules.json")}); otherwise ${def}\n`);
    expect(r.stdout).toContain("  nn m128 n64 k64 b1 v4  register-scalar  ms per call on 100x64x64 x1: register 2.50, register-scalar 1.25\n");
  });

  it("says why there is no table: an override, tuning off, or nothing timed yet", async () => {
    const base = { override: null, autotune: true, default: "register" as const, cache: "/c/matmul-schedules.json", tuned: {} };
    expect(scheduleLines(base)).toEqual(["matmul:      no shape class timed yet on this adapter (training times them after its first step; cache /c/matmul-schedules.json); default register"]);
    expect(scheduleLines({ ...base, autotune: false })).toEqual(["matmul:      schedule register (autotuning off: ACPO_AUTOTUNE=0)"]);
    expect(scheduleLines({ ...base, override: "tiled" })).toEqual(["matmul:      ACPO_MATMUL=tiled chooses every schedule"]);
    expect(scheduleLines({ ...base, tuned: { "nt m8 n8 k8 b1 v4": { ...entry, ms: { register: Infinity, "register-scalar": 0.5 } } } })[1]).toBe("  nt m8 n8 k8 b1 v4  register-scalar  ms per call on 100x64x64 x1: register -, register-scalar 0.50");
    // The report doctor prints from, under the environment this test file runs in (ACPO_AUTOTUNE=0).
    const gpu = await testGpu();
    expect(matmulScheduleReport(gpu)).toMatchObject({ override: null, autotune: false, tuned: {} });
  });
});
