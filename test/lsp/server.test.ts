// `acpo lsp` driven over the real protocol (JSON-RPC on the child's stdio), with documents
// sent inline as an editor sends them. One server serves every test; each test uses its own URI.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FUNCTIONS, QUANTITIES } from "../../compiler/builtins.js";
import { LspClient, positionOf, rangeOf, uriOf } from "./client.js";

/** A pipeline `acpo check` accepts, to which each test adds one thing. */
const VALID = `pipeline demo {
  model "models/none"
  task countdown { numbers 3..3  values 1..9  target 1..30 }
  rollout { prompts 4  group 4  temperature 1.0  max_tokens 32 }
  optimizer adamw { lr 1e-4 }
  param beta = 0.04 in [0, 1]
  let A = (r - mean(r over group)) / (std(r over group) + 1e-6)
  fn boost(x, y) = x * y + beta
  advantage = A * boost(H, A)
  stage warm until steps >= 10 { kl 0 }
  stage main until steps >= 20 {
    reference warm
    kl beta * k3
  }
  loss ppo_clip { eps_low 0.2  eps_high 0.2  aggregate token_mean }
  eval { every 5  samples 4  metrics [acc@4] }
}
`;

let client: LspClient;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "acpo-lsp-"));
  client = await LspClient.start();
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

describe("diagnostics", () => {
  it("a valid document gets an empty list", async () => {
    expect(await client.open(join(dir, "valid.acpo"), VALID)).toEqual([]);
  });

  it("a broken document gets the checker's code and range, and loses them when fixed", async () => {
    const path = join(dir, "broken.acpo");
    const text = VALID.replace("advantage = A * boost(H, A)", "advantage = A * boost(H, Aa)");
    const diags = await client.open(path, text);
    expect(diags.map((d) => [d.code, d.range])).toEqual([["E0201", rangeOf(text, "Aa")]]);
    expect(diags[0]!.message).toBe("unknown name `Aa`\n= did you mean `A`?");
    expect(await client.change(path, VALID)).toEqual([]);
  });

  it("a syntax error is positioned at the offending token", async () => {
    const path = join(dir, "syntax.acpo");
    const text = VALID.replace("prompts 4  group 4", "prompts 4  group }");
    const diags = await client.open(path, text);
    // The parser recovers after the first error; the stray `}` then ends the pipeline early.
    expect(diags.map((d) => [d.code, d.range])).toEqual([
      ["E0102", { start: positionOf(text, "group }", 6), end: positionOf(text, "group }", 7) }],
      ["E0102", rangeOf(text, "optimizer")],
    ]);
    expect(diags[0]!.message).toBe("expected '{' or '[' or an expression, found '}'");
  });

  it("several errors are all reported, in source order", async () => {
    const path = join(dir, "several.acpo");
    const text = VALID.replace("prompts 4", "prompts 0").replace("kl 0 }", "kl 0  token_wieght 1 }");
    const diags = await client.open(path, text);
    expect(diags.map((d) => [d.code, d.range])).toEqual([
      ["E0401", { start: positionOf(text, "0  group"), end: positionOf(text, "0  group", 1) }],
      ["E0203", rangeOf(text, "token_wieght")],
    ]);
  });

  it("a parent's problem appears on the extends path, pointing at the parent's line", async () => {
    const parent = join(dir, "parent.acpo");
    const parentText = VALID.replace("let A = (r -", "let A = (rr -");
    writeFileSync(parent, parentText);
    const child = `pipeline kid extends "parent.acpo" {\n  param beta = 0.1 in [0, 1]\n}\n`;
    const diags = await client.open(join(dir, "kid.acpo"), child);
    expect(diags).toHaveLength(1);
    const d = diags[0]!;
    expect(d.code).toBe("E0201");
    expect(d.range).toEqual(rangeOf(child, '"parent.acpo"'));
    const at = rangeOf(parentText, "rr");
    expect(d.message).toBe(`in parent.acpo:${at.start.line + 1}:${at.start.character + 1}: unknown name \`rr\`\n= did you mean \`r\`?`);
    expect(d.relatedInformation).toEqual([{ location: { uri: uriOf(parent), range: at }, message: "unknown name `rr`" }]);
  });

  it("a missing parent is E0601 on the extends path", async () => {
    const child = `pipeline kid extends "nowhere.acpo" {\n}\n`;
    const diags = await client.open(join(dir, "orphan.acpo"), child);
    expect(diags.map((d) => [d.code, d.range])).toEqual([["E0601", rangeOf(child, '"nowhere.acpo"')]]);
  });
});

describe("hover", () => {
  const path = () => join(dir, "hover.acpo");
  beforeAll(async () => {
    expect(await client.open(path(), VALID)).toEqual([]);
  });

  it("on H says token level and gives the built-in table's meaning", async () => {
    const h = await client.hover(path(), positionOf(VALID, "boost(H", 6));
    expect(h!.contents.value).toBe(`\`H\`: built-in token-level number\n\n${QUANTITIES.H!.doc}.`);
    expect(h!.range).toEqual(rangeOf(VALID, "H", 0));
  });

  it("on a let use gives the let's inferred level", async () => {
    const h = await client.hover(path(), positionOf(VALID, "advantage = A", 12));
    expect(h!.contents.value).toBe("let `A`: sequence-level number");
  });

  it("on an operator gives the whole expression's level", async () => {
    const h = await client.hover(path(), positionOf(VALID, "steps >= 10", 6));
    expect(h!.contents.value).toBe("expression: scalar-level condition");
  });

  it("on a reduction names the function and the level it produces here", async () => {
    const h = await client.hover(path(), positionOf(VALID, "mean(r over group)", 1));
    expect(h!.contents.value).toBe(`\`mean\`: built-in reduction\n\n${FUNCTIONS.mean!.doc}\n\nHere: group-level number.`);
  });

  it("inside a fn body lists the level at each call", async () => {
    const h = await client.hover(path(), positionOf(VALID, "x * y", 0));
    expect(h!.contents.value).toBe(`\`x\` (parameter of fn \`boost\`): in fn \`boost\`, its level follows the arguments of each call:\n- token-level number at the call on line ${positionOf(VALID, "boost(H").line + 1}`);
  });

  it("on a param gives its level", async () => {
    const h = await client.hover(path(), positionOf(VALID, "beta * k3", 1));
    expect(h!.contents.value).toBe("param `beta`: scalar-level number");
  });
});

describe("completion", () => {
  const labels = async (name: string, text: string, at: { line: number; character: number }) => (await client.completion(join(dir, name), at)).map((c) => c.label);

  it("inside rollout { } offers exactly rollout's settings", async () => {
    const text = VALID.replace("rollout { prompts 4  group 4  temperature 1.0  max_tokens 32 }", "rollout { prompts 4  }");
    await client.open(join(dir, "c1.acpo"), text);
    expect(await labels("c1.acpo", text, positionOf(text, "prompts 4  }", 11))).toEqual(["prompts", "group", "temperature", "top_p", "top_k", "max_tokens", "mc_rollouts"]);
  });

  it("in a stage's kl offers k3 and the params, and outside kl does not offer k3", async () => {
    const text = VALID.replace("kl beta * k3", "kl beta * ");
    await client.open(join(dir, "c2.acpo"), text);
    const inKl = await labels("c2.acpo", text, positionOf(text, "kl beta * ", 10));
    expect(inKl).toEqual(expect.arrayContaining(["k3", "beta", "A", "boost", "H", "mean"]));
    const inLet = await labels("c2.acpo", text, positionOf(text, "(r - ", 5));
    expect(inLet).toEqual(expect.arrayContaining(["beta", "H", "quantile"]));
    expect(inLet).not.toContain("k3");
  });

  it("after over offers the levels, in metrics the metric names at the block's samples", async () => {
    await client.open(join(dir, "c3.acpo"), VALID);
    expect(await labels("c3.acpo", VALID, positionOf(VALID, "over group)", 5))).toEqual(["batch", "group", "seq", "step"]);
    expect(await labels("c3.acpo", VALID, positionOf(VALID, "[acc@4]", 1))).toEqual(["acc@4", "pass@4"]);
  });

  it("after then offers the stages", async () => {
    const text = VALID.replace("stage warm until steps >= 10 {", "stage warm until steps >= 10 then  {");
    await client.open(join(dir, "c4.acpo"), text);
    expect(await labels("c4.acpo", text, positionOf(text, "then  {", 5))).toEqual(["warm", "main", "initial", "end"]);
  });
});

describe("go to definition", () => {
  it("of a param use lands on its declaration", async () => {
    await client.open(join(dir, "d1.acpo"), VALID);
    const loc = await client.definition(join(dir, "d1.acpo"), positionOf(VALID, "beta * k3", 2));
    expect(loc).toEqual({ uri: uriOf(join(dir, "d1.acpo")), range: rangeOf(VALID, "beta", 0) });
  });

  it("of a fn call, a fn parameter, a let and a stage reference; a built-in has none", async () => {
    const path = join(dir, "d2.acpo");
    await client.open(path, VALID);
    expect(await client.definition(path, positionOf(VALID, "boost(H", 1))).toEqual({ uri: uriOf(path), range: rangeOf(VALID, "boost", 0) });
    expect(await client.definition(path, positionOf(VALID, "x * y", 4))).toEqual({ uri: uriOf(path), range: { start: positionOf(VALID, "boost(x, y)", 9), end: positionOf(VALID, "boost(x, y)", 10) } });
    expect(await client.definition(path, positionOf(VALID, "advantage = A", 12))).toEqual({ uri: uriOf(path), range: { start: positionOf(VALID, "let A", 4), end: positionOf(VALID, "let A", 5) } });
    expect(await client.definition(path, positionOf(VALID, "boost(H", 6))).toBeNull();
    expect(await client.definition(path, positionOf(VALID, "reference warm", 11))).toEqual({ uri: uriOf(path), range: rangeOf(VALID, "warm", 0) });
  });

  it("of an extends path opens the parent, and of an inherited param lands in the parent", async () => {
    const parent = join(dir, "base.acpo");
    writeFileSync(parent, VALID);
    const child = `pipeline kid extends "base.acpo" {\n  let B = beta * 2\n  advantage = B\n}\n`;
    const path = join(dir, "sub", "..", "kid2.acpo");
    await client.open(path, child);
    expect(await client.definition(path, positionOf(child, "base.acpo"))).toEqual({ uri: uriOf(parent), range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } });
    expect(await client.definition(path, positionOf(child, "beta * 2"))).toEqual({ uri: uriOf(parent), range: rangeOf(VALID, "beta", 0) });
  });
});

describe("document symbols", () => {
  it("list the pipeline's stages, params, lets and fns with their name ranges", async () => {
    const path = join(dir, "s1.acpo");
    await client.open(path, VALID);
    const [top, ...rest] = await client.symbols(path);
    expect(rest).toEqual([]);
    expect(top!.name).toBe("demo");
    const named = top!.children!.filter((c) => !["model", "task", "rollout", "optimizer", "loss", "eval", "advantage"].includes(c.name));
    expect(named.map((c) => [c.name, c.kind, c.selectionRange])).toEqual([
      ["beta", 14, rangeOf(VALID, "beta", 0)],
      ["A", 13, { start: positionOf(VALID, "let A", 4), end: positionOf(VALID, "let A", 5) }],
      ["boost", 12, rangeOf(VALID, "boost", 0)],
      ["warm", 24, rangeOf(VALID, "warm", 0)],
      ["main", 24, rangeOf(VALID, "main", 0)],
    ]);
    expect(top!.children!.find((c) => c.name === "main")!.children!.map((c) => c.name)).toEqual(["reference", "kl"]);
  });
});

describe("lifecycle", () => {
  it("exits 0 after shutdown and exit, with nothing on stderr", async () => {
    expect(await client.stop()).toBe(0);
    expect(client.stderr).toBe("");
  });
});
