// Parquet datasets: the committed fixtures are pyarrow-written as Hugging Face ships them
// (fixtures/make-parquet.py: snappy, zstd, large_string, list<int64>); malformed and edge
// files are written here with hyparquet-writer.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parquetWriteBuffer } from "hyparquet-writer";
import { afterAll, describe, expect, it } from "vitest";
import { JsonlTask } from "../../runtime/engine/tasks/jsonl.js";
import { ParquetTask } from "../../runtime/engine/tasks/parquet.js";
import { taskFromSpec } from "../../runtime/engine/tasks/registry.js";
import { TaskSpecError } from "../../runtime/engine/tasks/types.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "acpo-parquet-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Column = { name: string; data: unknown[]; type?: string; nullable?: boolean };
let fileNo = 0;
/** A Parquet file (snappy, hyparquet-writer's default) with these columns. */
const parquet = (columns: Column[], opts: Record<string, unknown> = {}): string => {
  const p = join(dir, `d${fileNo++}.parquet`);
  writeFileSync(p, Buffer.from(parquetWriteBuffer({ columnData: columns as never, ...opts })));
  return p;
};

/** The TaskSpecError message of building a task on `path`, with the path written FILE. */
const errorOf = (path: string, options: Record<string, unknown> = {}): string => {
  try {
    new ParquetTask({ path, ...options });
  } catch (e) {
    expect(e).toBeInstanceOf(TaskSpecError);
    return (e as Error).message.replaceAll(path, "FILE");
  }
  throw new Error("expected an error");
};

describe("parquet task: files as Hugging Face ships them", () => {
  it("reads a snappy MATH-style file with named fields and its split column", () => {
    const t = new ParquetTask({ path: join(FIXTURES, "math-snappy.parquet"), promptField: "problem", traceField: "solution" });
    expect([t.size("train"), t.size("test")]).toEqual([4, 2]);
    const train = t.problems("train", 4, 0);
    const cjk = train.find((p) => p.source === "math-snappy.parquet#3")!;
    expect(cjk).toMatchObject({ id: "parquet:math-snappy.parquet#3", split: "train", prompt: "日本語の問題: 2 + 3 = ? 🙂", expected: "5" });
    const frac = train.find((p) => p.source === "math-snappy.parquet#0")!;
    expect(frac.expected).toBe("\\frac{3}{4}");
    expect(t.trace(frac)).toBe("$\\frac{1}{2} + \\frac{1}{4} = \\frac{3}{4}$. So the answer is $\\boxed{\\frac{3}{4}}$.");
    expect(t.verify(frac, "so <answer>\\frac{3}{4}</answer>")).toMatchObject({ correct: true, reward: 1 });
    expect(t.problems("test", 2, 0).map((p) => p.expected).sort()).toEqual(["12", "20"]);
  });

  it("scores MATH answers with the math verifier", () => {
    const t = new ParquetTask({ path: join(FIXTURES, "math-snappy.parquet"), promptField: "problem", verifier: "math" });
    const root = t.problems("train", 4, 0).find((p) => p.source === "math-snappy.parquet#1")!;
    expect(t.verify(root, "sqrt(8) = 2 sqrt 2, so \\boxed{\\sqrt{8}}")).toMatchObject({ correct: true, answer: "\\sqrt{8}" });
    expect(t.verify(root, "\\boxed{2}")).toMatchObject({ correct: false, reason: 'got "2" (boxed), expected "2\\\\sqrt{2}"' });
    expect(t.trace(root)).toBe("So, <answer>2\\sqrt{2}</answer>");
  });

  it("reads a zstd countdown file (int64 target, list<int64> numbers) with the countdown verifier", () => {
    const t = taskFromSpec({ name: "parquet", options: { path: join(FIXTURES, "countdown-zstd.parquet"), verifier: "countdown", numbersField: "nums", testFraction: 0 } });
    expect(t.size("train")).toBe(3);
    const p = t.problems("train", 3, 1).find((q) => q.id === "parquet:countdown-zstd.parquet#0")!;
    expect(p).toMatchObject({ numbers: [4, 6, 1], target: 24 });
    expect(p.prompt).toContain("24");
    expect(t.verify(p, "<answer>4*6*1</answer>").correct).toBe(true);
    expect(t.verify(p, "<answer>4*6+1</answer>").correct).toBe(false);
  });

  it("draws the same problems as the same records in jsonl (same split and sampling rules)", () => {
    const recs = Array.from({ length: 40 }, (_, i) => ({ prompt: `Q${i}: ${i} + ${i}?`, answer: String(2 * i) }));
    const pq = parquet([
      { name: "prompt", data: recs.map((r) => r.prompt), type: "STRING" },
      { name: "answer", data: recs.map((r) => r.answer), type: "STRING" },
    ]);
    const jl = join(dir, "same.jsonl");
    writeFileSync(jl, recs.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const a = new ParquetTask({ path: pq, testFraction: 0.25 }), b = new JsonlTask({ path: jl, testFraction: 0.25 });
    expect([a.size("train"), a.size("test")]).toEqual([b.size("train"), b.size("test")]);
    expect(a.size("test")).toBeGreaterThan(0);
    for (const split of ["train", "test"] as const) {
      expect(a.problems(split, a.size(split), 7).map((p) => p.prompt)).toEqual(b.problems(split, b.size(split), 7).map((p) => p.prompt));
    }
  });

  it("keeps train and test files apart, like jsonl", () => {
    const train = parquet([{ name: "prompt", data: ["a", "b", "c"], type: "STRING" }, { name: "answer", data: ["1", "2", "3"], type: "STRING" }]);
    const test = parquet([{ name: "prompt", data: ["d"], type: "STRING" }, { name: "answer", data: ["4"], type: "STRING" }]);
    const t = new ParquetTask({ train, test });
    expect([t.size("train"), t.size("test")]).toEqual([3, 1]);
    expect(() => t.problems("test", 2, 0)).toThrow(new TaskSpecError("task parquet: asked for 2 test problems but the dataset has 1; ask for at most 1"));
  });

  it("keeps 64-bit integers exact: a number when a double holds it, else its digits", () => {
    const p = parquet([
      { name: "prompt", data: ["small", "huge"], type: "STRING" },
      { name: "answer", data: [42n, 1152921504606846977n], type: "INT64" },
    ]);
    const t = new ParquetTask({ path: p, testFraction: 0 });
    expect(t.problems("train", 2, 0).map((q) => q.expected).sort()).toEqual(["1152921504606846977", "42"]);
  });
});

describe("parquet task: malformed input names the file, the row and what to do", () => {
  it("names a missing column and lists the file's columns", () => {
    const p = parquet([{ name: "question", data: ["a"], type: "STRING" }, { name: "answer", data: ["1"], type: "STRING" }]);
    expect(errorOf(p)).toBe('task parquet: FILE: no column "prompt"; its columns are "question", "answer"; name the right one in the task options (promptField, answerField, ...)');
    expect(new ParquetTask({ path: p, promptField: "question", testFraction: 0 }).size("train")).toBe(1);
  });

  it("names the row of a null or mistyped value (rows count from 0, as ds[i])", () => {
    const nulls = parquet([{ name: "prompt", data: ["a", "b", "c"], type: "STRING" }, { name: "answer", data: ["1", null, "3"], type: "STRING" }]);
    expect(errorOf(nulls)).toBe('task parquet: FILE: row 1: field "answer" must be a string or a number, got null');
    const words = parquet([{ name: "prompt", data: ["a", "b"], type: "STRING" }, { name: "answer", data: ["1", "two"], type: "STRING" }]);
    expect(errorOf(words, { verifier: "numeric" })).toBe('task parquet: FILE: row 1: field "answer" must be a number or a numeric string, got "two"');
    const nan = parquet([{ name: "prompt", data: ["a"], type: "STRING" }, { name: "answer", data: [NaN], type: "DOUBLE" }]);
    expect(errorOf(nan, { verifier: "numeric" })).toBe('task parquet: FILE: row 0: field "answer" must be a number or a numeric string, got "NaN"');
    const split = parquet([{ name: "prompt", data: ["a"], type: "STRING" }, { name: "answer", data: ["1"], type: "STRING" }, { name: "split", data: ["validation"], type: "STRING" }]);
    expect(errorOf(split)).toBe('task parquet: FILE: row 0: field "split" must be "train" or "test", got "validation"');
  });

  it("refuses a field over the per-field limit by row", () => {
    const p = parquet([{ name: "prompt", data: ["a", "x".repeat((1 << 20) + 1)], type: "STRING" }, { name: "answer", data: ["1", "2"], type: "STRING" }]);
    expect(errorOf(p)).toBe('task parquet: FILE: row 1: field "prompt" is longer than 1048576 characters, the limit for one field; shorten it or drop the row');
  });

  it("refuses files that are not Parquet, cut short or corrupt", () => {
    const jsonl = join(dir, "really.parquet");
    writeFileSync(jsonl, '{"prompt": "a", "answer": "1"}\n');
    expect(errorOf(jsonl)).toBe('task parquet: FILE: not a Parquet file (it must start and end with "PAR1"); for one JSON object per line use task jsonl');
    const good = readFileSync(join(FIXTURES, "math-snappy.parquet"));
    const cut = join(dir, "cut.parquet");
    writeFileSync(cut, good.subarray(0, good.length - 100));
    expect(errorOf(cut)).toMatch(/^task parquet: FILE: not a Parquet file \(it must start and end with "PAR1"\)/);
    // Right magic, garbage footer length: the reader's own error, with what to do.
    const bad = Buffer.from(good);
    bad.writeUInt32LE(0x7fffffff, bad.length - 8);
    const corrupt = join(dir, "corrupt.parquet");
    writeFileSync(corrupt, bad);
    expect(errorOf(corrupt)).toMatch(/^task parquet: FILE: not a readable Parquet file \(.+\); write it with pyarrow, pandas or datasets' to_parquet$/);
    const empty = join(dir, "empty.parquet");
    writeFileSync(empty, "");
    expect(errorOf(empty)).toBe('task parquet: FILE: not a Parquet file (it must start and end with "PAR1"; it has 0 bytes); for one JSON object per line use task jsonl');
  });

  it("refuses a directory, a FIFO, a device and a missing path without reading them", () => {
    expect(errorOf(dir)).toBe("task parquet: FILE: is a directory, not a regular file; give the path of a .parquet file");
    expect(errorOf("/dev/zero")).toBe("task parquet: FILE: is a device, not a regular file; give the path of a .parquet file");
    const fifo = join(dir, "fifo.parquet");
    execFileSync("mkfifo", [fifo]);
    expect(errorOf(fifo)).toBe("task parquet: FILE: is a FIFO, not a regular file; give the path of a .parquet file");
    expect(errorOf(join(dir, "nope.parquet"))).toBe("task parquet: FILE: cannot read (ENOENT); check the path");
  });

  it("refuses a file with no rows", () => {
    const p = parquet([{ name: "prompt", data: [], type: "STRING" }, { name: "answer", data: [], type: "STRING" }]);
    expect(errorOf(p)).toBe("task parquet: FILE: no records (the file has no rows)");
  });

  it("checks options like jsonl", () => {
    expect(() => new ParquetTask({ path: "x.parquet", verifier: "fuzzy" })).toThrow(/task parquet: option 'verifier' must be one of 'exact', 'numeric', 'countdown'/);
    expect(() => new ParquetTask({})).toThrow("task parquet: give either 'path'");
  });
});
