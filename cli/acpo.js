#!/usr/bin/env node
// Entry point for `npx acpo`: runs the TypeScript CLI through tsx (no build step).
import { tsImport } from "tsx/esm/api";

await tsImport("./main.ts", import.meta.url);
