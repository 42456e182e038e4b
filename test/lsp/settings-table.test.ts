// The completion table of block settings must say what the checker accepts. For every block
// in it, compile a pipeline whose block holds an unknown key and read the checker's own list
// of the settings allowed there (the E0203 hint) — so a setting added to the checker and not
// to the table, or the other way round, fails here.
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { BLOCK_KEYS, blockName, SETTING_KINDS } from "../../compiler/lsp/settings-table.js";

const BASE: Record<string, string> = {
  model: 'model "m"',
  task: "task countdown { numbers 3..3 }",
  rollout: "rollout { prompts 4  group 4  temperature 1  max_tokens 8 }",
  optimizer: "optimizer adamw { lr 1e-4 }",
  advantage: "advantage = r",
  stage: "stage s until steps >= 1 { kl 0 }",
  loss: "loss ppo_clip { eps_low 0.2  eps_high 0.2  aggregate token_mean }",
};

/** BASE with some items replaced or added. */
function pipelineWith(items: Record<string, string>): string {
  return `pipeline t {\n  ${Object.values({ ...BASE, ...items }).join("\n  ")}\n}\n`;
}

/** A pipeline in which the block `name` contains the unknown setting `zz_bogus 1`. */
function withBogus(name: string): string {
  const [key, kind] = name.split(" ") as [string, string | undefined];
  const head = kind ? `${key} ${kind}` : key;
  if (name === "pipeline") return pipelineWith({ extra: "zz_bogus 1" });
  if (name === "stage") return pipelineWith({ stage: "stage s until steps >= 1 { zz_bogus 1 }" });
  if (key === "sample") return pipelineWith({ stage: `stage s until steps >= 1 { ${head} { zz_bogus 1 } }` });
  return pipelineWith({ [key]: `${head} { zz_bogus 1 }` });
}

/** The settings the checker lists as allowed where it found `zz_bogus`. */
function checkerAllows(name: string): string[] {
  const r = loadPipeline("/virtual/table.acpo", { text: withBogus(name) });
  const d = r.diagnostics.find((x) => x.code === "E0203" && x.message.startsWith("unknown setting `zz_bogus`"));
  expect(d, `no E0203 for zz_bogus in ${name}: ${JSON.stringify(r.diagnostics.map((x) => x.message))}`).toBeDefined();
  const hint = d!.hint ?? "";
  if (hint === "") return [];
  expect(hint).toMatch(/^settings here: /);
  return hint.slice("settings here: ".length).split(", ");
}

describe("completion's settings table", () => {
  for (const name of Object.keys(BLOCK_KEYS)) {
    it(`${name}: the same settings as the checker accepts`, () => {
      const table = [...BLOCK_KEYS[name]!];
      // sgd's reader lists AdamW's moments as known keys, then refuses each with its own E0203.
      const expected = name === "optimizer sgd" ? [...table, "beta1", "beta2", "eps"] : table;
      expect(checkerAllows(name).sort()).toEqual(expected.sort());
    });
  }

  it("names every kind word's block, and no kind word opens an unknown block", () => {
    for (const [key, kinds] of Object.entries(SETTING_KINDS)) for (const k of kinds) expect(blockName(key, k)).toBe(`${key} ${k}`);
    expect(blockName("rollout", undefined)).toBe("rollout");
    expect(blockName("task", "nonsense")).toBeUndefined();
  });

  for (const [key, kinds] of Object.entries(SETTING_KINDS)) {
    it(`${key}: the same kind words as the checker accepts`, () => {
      const text = key === "sample" ? withBogus("stage").replace("zz_bogus 1", "sample zz_nonsense { }") : pipelineWith({ [key]: `${key} zz_nonsense { }` });
      const r = loadPipeline("/virtual/kinds.acpo", { text });
      const d = r.diagnostics.find((x) => x.message === `\`zz_nonsense\` is not a valid \`${key}\``);
      expect(d, JSON.stringify(r.diagnostics.map((x) => x.message))).toBeDefined();
      expect(d!.hint).toBe(`expected one of: ${kinds.join(", ")}`);
    });
  }
});
