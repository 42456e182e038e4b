// The language's task settings for real datasets and chat models: `task parquet`,
// `verifier math`, `prompt_field` / `answer_field`, `chat on` and `system "..."`, from the
// source through the checker, the printed pipeline and the runtime task.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { printPipeline } from "../../compiler/index.js";
import { taskFromPipeline } from "../../runtime/loop/rl/task-of.js";
import { at, check, meaning, reprinted, withBody } from "../compiler/helpers.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const withTask = (task: string): string => withBody("").replace("task countdown { numbers 3..4 }", task);

describe("task settings for datasets and chat models", () => {
  it("reads task parquet with the math verifier, named fields, chat and a system message", () => {
    const text = withTask('task parquet { train "fixtures/math-snappy.parquet"  verifier math  prompt_field "problem"  chat on  system "Reason step by step." }');
    const r = check(text, `${FIXTURES}../inline.acpo`);
    expect(r.diagnostics).toEqual([]);
    expect(r.pipeline!.task).toEqual({
      kind: "parquet", train: `${FIXTURES}math-snappy.parquet`, test: null, verifier: "math", promptField: "problem", answerField: "answer",
      prompt: { chat: true, system: "Reason step by step." },
    });
    // --explain prints every setting, and the printed pipeline means the same.
    expect(printPipeline(r.pipeline!)).toContain('task parquet { train "' + FIXTURES + 'math-snappy.parquet"  verifier math  prompt_field "problem"  answer_field "answer"  chat on  system "Reason step by step." }');
    expect(meaning(reprinted(r.pipeline!).pipeline!)).toEqual(meaning(r.pipeline!));
    // The runtime task: the fixture's problems, scored by the math verifier.
    const task = taskFromPipeline(r.pipeline!.task, FIXTURES + "..");
    expect(task.name).toBe("parquet");
    const [p] = task.problems("test", 2, 0).filter((q) => q.prompt === "What is 25% of 80?");
    expect(task.verify(p!, "0.25 * 80 = \\boxed{20}").correct).toBe(true);
  });

  it("leaves plain-prompt tasks as they were, and takes chat on any task", () => {
    const plain = check(withBody("")).pipeline!;
    expect(plain.task).not.toHaveProperty("prompt");
    const chat = check(withTask("task countdown { numbers 3..4  chat on }")).pipeline!;
    expect(chat.task.prompt).toEqual({ chat: true, system: null });
    expect(meaning(reprinted(chat).pipeline!)).toEqual(meaning(chat));
    expect(check(withTask('task jsonl { train "d.jsonl"  verifier exact }')).pipeline!.task).toMatchObject({ promptField: "prompt", answerField: "answer" });
  });

  it("refuses a system message without chat, and unknown verifiers, at their position", () => {
    const text = withTask('task jsonl { train "d.jsonl"  verifier math  system "Be brief." }');
    const r = check(text);
    expect(r.diagnostics.map((d) => [d.code, d.message, d.span?.line, d.span?.col])).toEqual([["E0401", "`system` is a chat message: it needs `chat on`", at(text, "system").line, at(text, "system").col]]);
    const bad = withTask('task parquet { train "d.parquet"  verifier fuzzy }');
    expect(check(bad).diagnostics.map((d) => [d.code, d.message])).toEqual([["E0402", "`fuzzy` is not a valid `verifier`"]]);
    expect(check(withTask("task arithmetic { chat maybe }")).diagnostics.map((d) => d.message)).toEqual(["`maybe` is not a valid `chat`"]);
  });
});
