// The workgroup-memory schedule real GPUs use (tiled) and the naive one, run here on
// whatever adapter the tests get (lavapipe in CI): a schedule must be right everywhere.
import { scheduleSuite } from "./matmul-schedule-cases.js";

scheduleSuite(["tiled", "naive"]);
