// Which samples.jsonl records the trajectory viewer can show. The page's script trusts the
// data it is given; this check is what makes that safe (spec/batch.md defines the fields).
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);
const isNumOrNull = (v: unknown): boolean => v === null || typeof v === "number";
const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
};

/**
 * What is wrong with one samples.jsonl record for the viewer, or null when it can be shown.
 * Checks the fields the page reads, by the trajectory format of spec/batch.md: a value of
 * the wrong type or length would stop the page's script (or draw tokens at the wrong steps).
 * Other fields (logp, old_logp, ...) are not the viewer's business and are not checked.
 */
export function sampleProblem(s: Record<string, unknown>): string | null {
  const { tokens } = s;
  if (!Array.isArray(tokens) || tokens.length === 0) return `field 'tokens' must be a non-empty array of token ids, got ${show(tokens ?? null)}`;
  const badTok = tokens.findIndex((t) => !isInt(t) || t < 0);
  if (badTok >= 0) return `field 'tokens': entry ${badTok} is ${show(tokens[badTok])}, not a token id (a non-negative integer)`;
  const L = tokens.length;
  for (const key of ["old_entropy", "entropy"]) {
    const v = s[key];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.length !== L || !v.every(isNumOrNull)) return `field '${key}' must be ${L} numbers (one per token), got ${show(v)}`;
  }
  let K = 1;
  if (s.step_starts !== undefined) {
    const st = s.step_starts;
    if (!Array.isArray(st) || st.length === 0 || !st.every(isInt)) return `field 'step_starts' must be a non-empty array of token positions, got ${show(st)}`;
    if (st[0] !== 0) return `field 'step_starts' must begin with 0 (the first step starts at the first token), got ${show(st)}`;
    for (let k = 1; k < st.length; k++) {
      const x = st[k] as number;
      if (x >= L) return `field 'step_starts': entry ${k} is ${x}, out of range for a response of ${L} tokens`;
      if (x <= (st[k - 1] as number)) return `field 'step_starts' must be strictly increasing, got ${show(st)}`;
    }
    K = st.length;
  }
  for (const key of ["C", "w", "weight", "step_entropy"]) {
    const v = s[key];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v) || v.length !== K || !v.every(isNumOrNull)) return `field '${key}' must be ${K} number${K === 1 ? "" : "s"} (one per step), got ${show(v)}`;
  }
  const typed: [string, string, (v: unknown) => boolean][] = [
    ["step", "an integer", isInt],
    ["group", "a non-negative integer", (v) => isInt(v) && v >= 0],
    ["reward", "a number", (v) => typeof v === "number"],
    ["correct", "true or false", (v) => typeof v === "boolean"],
    ...["stage", "prompt", "text", "answer", "reason"].map((k): [string, string, (v: unknown) => boolean] => [k, "a string", (v) => typeof v === "string"]),
  ];
  for (const [key, want, ok] of typed) {
    const v = s[key];
    if (v !== undefined && v !== null && !ok(v)) return `field '${key}' must be ${want}, got ${show(v)}`;
  }
  return null;
}
