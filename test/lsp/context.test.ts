// Where completion thinks the cursor is, on half-typed text (`|` marks the cursor). These
// are the cases an editor sends while a user types, where the text rarely parses.
import { describe, expect, it } from "vitest";
import { cursorContext } from "../../compiler/lsp/context.js";

function at(marked: string) {
  const offset = marked.indexOf("|");
  return cursorContext(marked.slice(0, offset) + marked.slice(offset + 1), offset);
}

describe("cursor context", () => {
  const cases: [string, string, ReturnType<typeof at>["block"], ReturnType<typeof at>["slot"]][] = [
    ["empty block", "pipeline p {\n  rollout { | }\n}", "rollout", { kind: "key" }],
    ["after a finished value", "pipeline p { rollout { prompts 16 | } }", "rollout", { kind: "key" }],
    ["a word being typed", "pipeline p { rollout { prompts 16 gr| } }", "rollout", { kind: "key" }],
    ["after a key: its value", "pipeline p { rollout { prompts | } }", "rollout", { kind: "expr", context: "any", fnParams: [] }],
    ["kind block", "pipeline p { optimizer sgd { | } }", "optimizer sgd", { kind: "key" }],
    ["a kind word", "pipeline p { segment | }", "pipeline", { kind: "kind", key: "segment" }],
    ["top level", "pipeline p { seed 0 | }", "pipeline", { kind: "key" }],
    ["unknown block", "pipeline p { frobnicate { | } }", undefined, { kind: "none" }],
    ["after a closed block", "pipeline p { rollout { prompts 4 } | }", "pipeline", { kind: "key" }],
    ["stage body", "pipeline p { stage s until steps >= 3 { | } }", "stage", { kind: "key" }],
    ["stage's kl", "pipeline p { stage s until steps >= 3 { kl 0.1 * | } }", "stage", { kind: "expr", context: "kl", fnParams: [] }],
    ["stage's until", "pipeline p { stage s until | }", "pipeline", { kind: "expr", context: "until", fnParams: [] }],
    ["after then", "pipeline p { stage a until steps > 1 then | { } }", "pipeline", { kind: "stage" }],
    ["reference", "pipeline p { stage b until steps > 1 { reference | } }", "stage", { kind: "stage" }],
    ["sample block in a stage", "pipeline p { stage b until steps > 1 { sample dynamic { | } } }", "sample dynamic", { kind: "key" }],
    ["after over", "pipeline p { let A = mean(r over |) }", "pipeline", { kind: "over" }],
    ["inside call parentheses", "pipeline p { let A = mean(r |) }", "pipeline", { kind: "expr", context: "any", fnParams: [] }],
    ["fn body", "pipeline p { fn w(H, C, A) = H * | }", "pipeline", { kind: "expr", context: "any", fnParams: ["H", "C", "A"] }],
    ["after a fn, a let", "pipeline p { fn w(x) = x let B = | }", "pipeline", { kind: "expr", context: "any", fnParams: [] }],
    ["metrics list", "pipeline p { eval { samples 16  metrics [acc@16, | ] } }", "eval", { kind: "metric", samples: 16 }],
    ["metrics without samples", "pipeline p { eval { metrics [| } }", "eval", { kind: "metric", samples: undefined }],
    ["a string list is expressions", 'pipeline p { segment entropy { markers ["a", | ] } }', "segment entropy", { kind: "expr", context: "any", fnParams: [] }],
    ["a comment's braces do not count", "pipeline p { # rollout {\n  | }", "pipeline", { kind: "key" }],
    ["a string's braces do not count", 'pipeline p { model "{" | }', "pipeline", { kind: "key" }],
    ["before the pipeline", "| pipeline p { }", undefined, { kind: "none" }],
  ];
  for (const [what, text, block, slot] of cases) {
    it(what, () => {
      const c = at(text);
      expect({ block: c.block, slot: c.slot }).toEqual({ block, slot });
    });
  }

  it("collects the file's declared names from tokens, even where the file does not parse", () => {
    const c = at("pipeline p { param a = 1 let b = ( fn f(x) = x stage s until | ");
    expect(c.declared).toEqual({ param: ["a"], let: ["b"], fn: ["f"], stage: ["s"] });
  });
});
