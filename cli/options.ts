// Option parsers shared by the commands: they turn bad values into one-line user errors.
// Commander prefixes the message with the option, e.g.
//   error: option '--seed <n>' argument '1e30' is invalid. expected an integer in [0, 4294967295], got '1e30'
import { InvalidArgumentError } from "commander";

/** Largest seed: seeds are 32-bit (runtime/engine/rng.ts seeds xoshiro128** from one u32). */
export const MAX_SEED = 0xffffffff;

/**
 * A decimal integer as written: digits with an optional sign. Number() alone would also take
 * "1e30", "0x10", " 5" and "" (as 0), and a value beyond 2^53 would silently lose digits.
 */
function plainInteger(value: string, want: string): number {
  const n = /^[+-]?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected ${want}, got '${value}'`);
  return n;
}

export function parseIntOption(value: string): number {
  return plainInteger(value, "an integer");
}

/** A count that must be at least 1 (steps, checkpoint interval). */
export function parsePositiveIntOption(value: string): number {
  const n = plainInteger(value, "an integer >= 1");
  if (n < 1) throw new InvalidArgumentError(`expected an integer >= 1, got '${value}'`);
  return n;
}

/** A seed: an integer in [0, 2^32 - 1], used as given (never wrapped or rounded). */
export function parseSeedOption(value: string): number {
  const want = `an integer in [0, ${MAX_SEED}]`;
  const n = plainInteger(value, want);
  if (n < 0 || n > MAX_SEED) throw new InvalidArgumentError(`expected ${want}, got '${value}'`);
  return n;
}

export function parseFloatOption(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got '${value}'`);
  return n;
}

/** `--option key=value` (repeatable) into a task options object; "a..b" is a range [a, b]. */
export function collectTaskOption(value: string, acc: Record<string, unknown>): Record<string, unknown> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got '${value}'`);
  const key = value.slice(0, eq), raw = value.slice(eq + 1);
  const range = /^(-?\d+(?:\.\d+)?)\.\.(-?\d+(?:\.\d+)?)$/.exec(raw);
  let parsed: unknown = raw;
  if (range) parsed = [Number(range[1]), Number(range[2])];
  else {
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = raw; // a plain string
    }
  }
  return { ...acc, [key]: parsed };
}
