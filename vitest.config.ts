import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Installs the Debian packages some tests use, once, before any test file runs.
    globalSetup: ["test/global-setup.ts"],
    // Each worker owns one Dawn device; lavapipe already uses every core for a dispatch.
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 120_000,
    // Matmul schedules stay the built-in default per adapter: no timing, no cache file read
    // or written (runtime/engine/ops/matmul-autotune.ts); the autotune tests turn it on themselves.
    env: { ACPO_AUTOTUNE: "0" },
    hookTimeout: 120_000,
  },
});
