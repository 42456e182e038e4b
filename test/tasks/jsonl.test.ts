import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { JsonlTask, MAX_LINE_BYTES } from "../../runtime/engine/tasks/jsonl.js";
import { TaskSpecError } from "../../runtime/engine/tasks/types.js";

const dir = mkdtempSync(join(tmpdir(), "acpo-jsonl-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const file = (text: string): string => {
  const p = join(dir, `d${fileNo++}.jsonl`);
  writeFileSync(p, text);
  return p;
};
const lines = (...recs: unknown[]): string => recs.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n") + "\n";

/** The TaskSpecError message of building a task on `text`. */
const errorOf = (text: string, options: Record<string, unknown> = {}): string => {
  const p = file(text);
  try {
    new JsonlTask({ path: p, ...options });
  } catch (e) {
    expect(e).toBeInstanceOf(TaskSpecError);
    return (e as Error).message.replace(p, "FILE");
  }
  throw new Error("expected an error");
};

describe("jsonl task: malformed lines", () => {
  it("names file:line for bad JSON", () => {
    expect(errorOf(lines({ prompt: "a", answer: "1" }, { prompt: "b", answer: "2" }, '{"prompt": "c", answer: 3}'))).toMatch(
      /^task jsonl: FILE:3: not valid JSON \(.*\); each non-blank line must be one JSON object$/,
    );
  });
  it("names a missing field and how to fix it", () => {
    expect(errorOf(lines({ prompt: "a", answer: "1" }, { prompt: "b" }))).toBe(
      'task jsonl: FILE:2: missing field "answer" (a string or a number); add it or name another field in the task options',
    );
    expect(errorOf(lines({ question: "a", answer: "1" }))).toMatch(/FILE:1: missing field "prompt"/);
  });
  it("names a field of the wrong type", () => {
    expect(errorOf(lines({ prompt: 5, answer: "1" }))).toBe('task jsonl: FILE:1: field "prompt" must be a non-empty string, got 5');
    expect(errorOf(lines({ prompt: "  ", answer: "1" }))).toMatch(/FILE:1: field "prompt" must be a non-empty string/);
    expect(errorOf(lines({ prompt: "a", answer: null }))).toMatch(/FILE:1: field "answer" must be a string or a number, got null/);
    expect(errorOf(lines({ prompt: "a", answer: "x" }), { verifier: "numeric" })).toMatch(/FILE:1: field "answer" must be a number or a numeric string, got "x"/);
    expect(errorOf(lines({ numbers: [1, 2.5], target: 3 }), { verifier: "countdown" })).toMatch(/FILE:1: field "numbers" must be a non-empty array of non-negative integers/);
    expect(errorOf(lines({ numbers: [1, 2], target: "3" }), { verifier: "countdown" })).toMatch(/FILE:1: field "target" must be a finite number/);
    expect(errorOf(lines({ prompt: "a", answer: "1", split: "dev" }))).toMatch(/FILE:1: field "split" must be "train" or "test", got "dev"/);
  });
  it("rejects lines that are JSON but not objects", () => {
    expect(errorOf(lines({ prompt: "a", answer: "1" }, "[1, 2]"))).toMatch(/FILE:2: expected a JSON object like \{"prompt": \.\.\.\}, got an array/);
    expect(errorOf(lines("null"))).toMatch(/FILE:1: expected a JSON object.*got null/);
    expect(errorOf(lines("42"))).toMatch(/FILE:1: expected a JSON object.*got 42/);
  });
  it("counts lines including blank ones, and rejects a file with no records", () => {
    expect(errorOf(`\n  \n${JSON.stringify({ prompt: "a", answer: "1" })}\n\n{oops}\n`)).toMatch(/FILE:5: not valid JSON/);
    expect(errorOf("\n \n")).toMatch(/no records/);
    expect(errorOf("")).toMatch(/no records/);
  });
  it("refuses a line over MAX_LINE_BYTES by file:line, and accepts one at the limit", () => {
    const rec = (n: number) => JSON.stringify({ prompt: "p".repeat(n), answer: "1" });
    const pad = rec(0).length;
    // Exactly at the limit (the line end does not count), then one byte over.
    const atLimit = file(lines({ prompt: "a", answer: "1" }, rec(MAX_LINE_BYTES - pad)));
    expect(new JsonlTask({ path: atLimit }).size("train") + new JsonlTask({ path: atLimit }).size("test")).toBe(2);
    expect(errorOf(lines({ prompt: "a", answer: "1" }, rec(MAX_LINE_BYTES - pad + 1)))).toBe(
      "task jsonl: FILE:2: line is longer than 1 MiB, the limit for one record; shorten or split it (is this a JSON-lines file?)",
    );
    // Tens of MB in one line: refused when the limit is passed, before the rest is read.
    expect(errorOf(`${rec(40 << 20)}\n`)).toMatch(/^task jsonl: FILE:1: line is longer than 1 MiB/);
  });
  it("refuses bytes that are not UTF-8 by file:line, instead of reading them as U+FFFD", () => {
    const p = join(dir, "latin1.jsonl");
    writeFileSync(p, Buffer.concat([Buffer.from(`${JSON.stringify({ prompt: "ok", answer: "1" })}\n{"prompt": "caf`), Buffer.from([0xe9]), Buffer.from('", "answer": "2"}\n')]));
    expect(() => new JsonlTask({ path: p })).toThrow(new TaskSpecError(`task jsonl: ${p}:2: not valid UTF-8 (byte 16 of the line is 0xe9); save the file as UTF-8`));
  });
  it("refuses a device or a FIFO as the dataset instead of reading forever", () => {
    expect(() => new JsonlTask({ path: "/dev/zero" })).toThrow(new TaskSpecError("task jsonl: /dev/zero: is a device, not a regular file; write the records to a file and give its path"));
    const fifo = join(dir, "fifo.jsonl");
    execFileSync("mkfifo", [fifo]);
    expect(() => new JsonlTask({ path: fifo })).toThrow(new TaskSpecError(`task jsonl: ${fifo}: is a FIFO, not a regular file; write the records to a file and give its path`));
    expect(() => new JsonlTask({ path: dir })).toThrow(new TaskSpecError(`task jsonl: ${dir}: is a directory, not a regular file; write the records to a file and give its path`));
  });
  it("names a missing file and a required trace field", () => {
    expect(() => new JsonlTask({ path: join(dir, "absent.jsonl") })).toThrow(/^task jsonl: .*absent\.jsonl: cannot read \(ENOENT\); check the path$/);
    expect(errorOf(lines({ prompt: "a", answer: "1" }), { traceField: "solution" })).toMatch(/FILE:1: missing field "solution"/);
  });
});

describe("jsonl task: reading and splitting", () => {
  it("accepts a BOM, CRLF line ends and blank lines; uses the split field when present", () => {
    const text = "\uFEFF" + [{ prompt: "p1", answer: "a1", split: "train" }, { prompt: "p2", answer: "a2", split: "test" }, { prompt: "p3", answer: 3, split: "train" }].map((r) => JSON.stringify(r)).join("\r\n\r\n") + "\r\n";
    const t = new JsonlTask({ path: file(text) });
    expect(t.size("train")).toBe(2);
    expect(t.size("test")).toBe(1);
    const [p2] = t.problems("test", 1, 0);
    expect(p2).toMatchObject({ prompt: "p2", expected: "a2", split: "test" });
    expect(p2!.source).toMatch(/:3$/); // the line number counts the blank line between records
    const p3 = t.problems("train", 2, 0).find((p) => p.prompt === "p3")!;
    expect(t.verify(p3, "<answer> 3 </answer>").correct).toBe(true);
    expect(t.verify(p3, "<answer>3.0</answer>").correct).toBe(false); // exact means exact
  });

  it("hash-splits records without a split field: deterministic, disjoint, order-independent", () => {
    const recs = Array.from({ length: 400 }, (_, i) => ({ prompt: `question ${i}`, answer: String(i) }));
    const dup = [...recs, { prompt: "question 7", answer: "7" }]; // a repeated prompt stays in one split
    const a = new JsonlTask({ path: file(lines(...dup)), testFraction: 0.25 });
    const b = new JsonlTask({ path: file(lines(...[...dup].reverse())), testFraction: 0.25 });
    const prompts = (t: JsonlTask, s: "train" | "test") => new Set(t.problems(s, t.size(s), 0).map((p) => p.prompt));
    const train = prompts(a, "train");
    const test = prompts(a, "test");
    for (const p of test) expect(train.has(p)).toBe(false);
    expect(train.size + test.size).toBe(400);
    expect(test.size).toBeGreaterThan(60);
    expect(test.size).toBeLessThan(140);
    expect([...prompts(b, "test")].sort()).toEqual([...test].sort());
  });

  it("draws problems deterministically by seed and refuses more than the split holds", () => {
    const t = new JsonlTask({ path: file(lines(...Array.from({ length: 50 }, (_, i) => ({ prompt: `q${i}`, answer: i, split: i < 40 ? "train" : "test" })))) });
    expect(t.problems("train", 10, 3)).toEqual(t.problems("train", 10, 3));
    expect(t.problems("train", 10, 3)).not.toEqual(t.problems("train", 10, 4));
    expect(new Set(t.problems("train", 40, 1).map((p) => p.id)).size).toBe(40);
    expect(() => t.problems("test", 11, 0)).toThrow(/asked for 11 test problems but the dataset has 10; ask for at most 10/);
  });

  it("reads separate train and test files, and flags a split field that contradicts its file", () => {
    const train = file(lines({ prompt: "a", answer: "1" }, { prompt: "b", answer: "2" }));
    const test = file(lines({ prompt: "c", answer: "3" }));
    const t = new JsonlTask({ train, test });
    expect([t.size("train"), t.size("test")]).toEqual([2, 1]);
    const bad = file(lines({ prompt: "a", answer: "1", split: "test" }));
    expect(() => new JsonlTask({ train: bad, test })).toThrow(/:1: field "split" says "test" but this file is the train file/);
    expect(() => new JsonlTask({ path: train, test })).toThrow(/'test' goes with 'train'/);
    expect(() => new JsonlTask({})).toThrow(/give either 'path'/);
  });

  it("resolves relative paths against the base folder", () => {
    const p = file(lines({ prompt: "a", answer: "1" }));
    const t = new JsonlTask({ path: p.slice(dir.length + 1) }, dir);
    expect(t.size("train") + t.size("test")).toBe(1);
  });
});

describe("jsonl task: verifiers and traces", () => {
  it("numeric verifier with tolerance and renamed fields", () => {
    const t = new JsonlTask({ path: file(lines({ q: "1/3?", a: "0.3333", split: "test" })), verifier: "numeric", promptField: "q", answerField: "a", tolerance: 1e-3 });
    const [p] = t.problems("test", 1, 0);
    expect(t.verify(p!, "<answer>0.333</answer>").correct).toBe(true);
    expect(t.verify(p!, "<answer>0.34</answer>").correct).toBe(false);
    expect(t.trace(p!)).toBe("So, <answer>0.3333</answer>");
  });

  it("countdown verifier builds a prompt when the dataset has none, and traces solve it", () => {
    const t = new JsonlTask({ path: file(lines({ nums: [7, 3, 4], target: 25, split: "train" })), verifier: "countdown", numbersField: "nums" });
    const [p] = t.problems("train", 1, 0);
    expect(p!.prompt).toContain("make 25");
    expect(t.verify(p!, t.trace(p!, 2)).correct).toBe(true);
    expect(t.verify(p!, "<answer>7+3+4</answer>").correct).toBe(false);
  });

  it("a named prompt field is required even for countdown", () => {
    expect(errorOf(lines({ numbers: [1, 2], target: 3 }), { verifier: "countdown", promptField: "text" })).toMatch(/FILE:1: missing field "text"/);
  });

  it("uses the trace field when configured", () => {
    const t = new JsonlTask({ path: file(lines({ prompt: "2+2?", answer: "4", sol: "First, 2+2=4. So, <answer>4</answer>", split: "train" })), traceField: "sol" });
    const [p] = t.problems("train", 1, 0);
    expect(t.trace(p!)).toBe("First, 2+2=4. So, <answer>4</answer>");
    expect(t.verify(p!, t.trace(p!)).correct).toBe(true);
  });
});
