// Every benchmark suite, in the order `npm run bench` runs them. To add one, write a
// `Suite` (bench/lib/types.ts) in this folder and list it here; `--only NAME` selects it.
import type { Suite } from "../lib/types.js";
import { cpuPeakSuite } from "./cpu-peak.js";
import { dispatchSuite } from "./dispatch.js";
import { lossHeadSuite } from "./loss-head.js";
import { matmulSuite, matmulVariantsSuite } from "./matmul.js";
import { modelSuite } from "./model.js";
import { qwenShapedSuite } from "./qwen-shaped.js";
import { rlStepSuite } from "./rl-step.js";
import { scalingSuite } from "./scaling.js";

export const SUITES: Suite[] = [cpuPeakSuite, dispatchSuite, matmulSuite, matmulVariantsSuite, modelSuite, lossHeadSuite, rlStepSuite, scalingSuite, qwenShapedSuite];
