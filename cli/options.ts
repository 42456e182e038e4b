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
