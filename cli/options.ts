// Option parsers shared by the commands: they turn bad values into one-line user errors.
import { InvalidArgumentError } from "commander";

export function parseIntOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer, got '${value}'`);
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
