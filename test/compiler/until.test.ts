// W0501: a stage whose `until` can never hold trains forever; the checker warns (the
// pipeline still loads). Conditions it cannot judge, or that can hold, get no warning.
import { describe, expect, it } from "vitest";
import { at, check, withBody } from "./helpers.js";

const stage = (until: string) => withBody("  param b = 0", { stage: false }).replace("\n}\n", `\n  stage s until ${until} { }\n}\n`);

describe("an until that can never hold", () => {
  it.each([
    ["false", "it is always false"],
    ["1 > 2", "it is always false"],
    ["b > 1", "it is always false"],
    ["steps < 1", "no count"],
    ["steps == 2.5", "no count"],
    ["steps >= 10 and steps < 5", "no count"],
    ["total_steps < steps", "no count"],
    ["steps >= 1e300", "no count"],
    ["not (steps >= 1)", "no count"],
    ["steps >= 5 and b > 1", "no count"],
  ])("until %s: W0501 at the condition", (until, why) => {
    const text = stage(until);
    const r = check(text);
    expect(r.diagnostics).toEqual([]);
    expect(r.pipeline).toBeDefined();
    expect(r.warnings).toHaveLength(1);
    const w = r.warnings[0]!;
    expect(w).toMatchObject({ code: "W0501", severity: "warning", span: at(text, until) });
    expect(w.message.startsWith(`stage \`s\` never ends: its \`until\` can never hold (${why}`)).toBe(true);
  });

  it.each(["true", "steps >= 10", "steps == 3", "total_steps >= steps", "steps >= 10 or mean(H over batch) < 0.3", "steps * 2 >= 7", "steps >= 4503599627370496", "mean(H over batch) < -1"])(
    "until %s: no warning",
    (until) => {
      const r = check(stage(until));
      expect(r.diagnostics).toEqual([]);
      expect(r.warnings).toEqual([]);
    },
  );
});
