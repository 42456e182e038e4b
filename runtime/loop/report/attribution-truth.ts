// Ground-truth step importance for countdown responses, for `acpo attribution-check`.
// A response's steps are replayed on the prompt's numbers: each equation "a op b = v" takes
// its operands from the numbers still available (the prompt's, minus those used, plus the
// results so far) and adds its result.
// - on path: after the step, every equation so far was valid (operands available, the
//   arithmetic right) and the target is still reachable from the numbers left, combining
//   all of them under the classic rules (countdown-solver.ts reachableValues);
// - misread: the step is the first to use a number that is not available — the slip of the
//   slip warm start (countdown-slips.ts), found from the text, so it also catches the
//   policy's own misreads.
// A step with no equation (the answer, a stray phrase) has no truth and is left out.
import { reachableValues } from "../../engine/tasks/countdown-solver.js";

export interface CountdownInstance {
  numbers: number[];
  target: number;
}

export interface StepTruth {
  /** Equations found in the step's text. */
  equations: number;
  /** Null when the step has no equation. */
  onPath: boolean | null;
  /** The first step that uses an unavailable number. */
  misread: boolean;
}

const PROMPT = /Use ((?:\d+ )*\d+) once each with .* to make (\d+)\./;
const EQUATION = /(\d+)\s*([-+*/])\s*(\d+)\s*=\s*(\d+)/g;
const ANSWER = /<answer>[\s\S]*?(<\/answer>|$)/g;

/** The numbers and target of a countdown prompt (countdown.ts countdownPrompt), or null. */
export function countdownOfPrompt(prompt: string): CountdownInstance | null {
  const m = PROMPT.exec(prompt);
  if (!m) return null;
  return { numbers: m[1]!.split(" ").map(Number), target: Number(m[2]) };
}

function apply(a: number, op: string, b: number): number {
  return op === "+" ? a + b : op === "-" ? a - b : op === "*" ? a * b : a / b;
}

/** Remove one `v` from `pool`; false when it holds none. */
function take(pool: number[], v: number): boolean {
  const i = pool.indexOf(v);
  if (i < 0) return false;
  pool.splice(i, 1);
  return true;
}

const reachCache = new Map<string, boolean>();

function reachable(pool: readonly number[], target: number): boolean {
  if (pool.length === 0) return false;
  const key = `${[...pool].sort((a, b) => a - b).join(",")}>${target}`;
  let r = reachCache.get(key);
  if (r === undefined) {
    r = pool.length > 6 ? false : reachableValues(pool).has(target);
    reachCache.set(key, r);
  }
  return r;
}

/** Truth per step of one response, in order. The answer's `<answer>…</answer>` is not read for equations. */
export function stepTruths(inst: CountdownInstance, stepTexts: readonly string[]): StepTruth[] {
  const pool = [...inst.numbers];
  let valid = true;
  let misreadSeen = false;
  return stepTexts.map((text) => {
    const eqs = [...text.replace(ANSWER, " ").matchAll(EQUATION)];
    let misread = false;
    for (const m of eqs) {
      if (!valid) continue;
      const [a, b, v] = [Number(m[1]), Number(m[3]), Number(m[4])];
      if (!take(pool, a) || !take(pool, b)) {
        valid = false;
        if (!misreadSeen) misread = misreadSeen = true;
        continue;
      }
      if (apply(a, m[2]!, b) !== v) valid = false;
      pool.push(v);
    }
    return { equations: eqs.length, onPath: eqs.length === 0 ? null : valid && reachable(pool, inst.target), misread };
  });
}
