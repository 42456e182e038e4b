// Training progress on the terminal, without dependencies. On a TTY one line redrawn in
// place (carriage return + erase to end of line): a bar, step/total, stage, reward,
// accuracy, entropy, seconds per step and ETA. Not a TTY (a log file, CI): one plain line
// per step, so logs stay readable. Notes (eval results, messages) print on their own line
// above the bar. Writes go to stderr by default so stdout stays free for results.
import type { StepMetrics } from "../rl/types.js";

/** What Progress writes to: process.stderr, or a stand-in in tests. */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Steps the run will take (the last step's number); null when a stage ends on a condition (no bar, no ETA). */
  total: number | null;
  /** Print nothing. */
  quiet?: boolean;
  stream?: ProgressStream;
  /** Milliseconds clock; default performance.now. */
  now?: () => number;
  /** Steps averaged for s/step. Default 10. */
  window?: number;
}

/** "42s", "20m11s", "3h04m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

const fixed = (x: number, digits: number): string => (Number.isFinite(x) ? x.toFixed(digits) : "-");

export interface ProgressFields {
  step: number;
  total: number | null;
  stage: string;
  reward: number;
  accuracy: number;
  entropy: number;
  /** Seconds per step; NaN before the first measurement. */
  secondsPerStep: number;
}

/** The status text (without a bar): also the plain line printed when not on a TTY. */
export function formatProgress(f: ProgressFields): string {
  const parts = [
    f.total === null ? `step ${f.step}` : `step ${f.step}/${f.total}`,
    `[${f.stage}]`,
    `reward ${fixed(f.reward, 3)}`,
    `acc ${Number.isFinite(f.accuracy) ? `${(100 * f.accuracy).toFixed(1)}%` : "-"}`,
    `H ${fixed(f.entropy, 3)}`,
    `${fixed(f.secondsPerStep, 2)} s/step`,
  ];
  if (f.total !== null) parts.push(`ETA ${Number.isFinite(f.secondsPerStep) ? formatDuration(Math.max(0, f.total - f.step) * f.secondsPerStep) : "?"}`);
  return parts.join("  ");
}

/** A bar of `width` cells for step/total. */
export function formatBar(step: number, total: number, width: number): string {
  const frac = total > 0 ? Math.min(1, Math.max(0, step / total)) : 0;
  const full = Math.round(frac * width);
  return `[${"#".repeat(full)}${".".repeat(width - full)}]`;
}

export class Progress {
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly tty: boolean;
  private readonly intervals: number[] = [];
  private last: number;
  /** The line on screen (TTY), to redraw after a note. */
  private shown: string | null = null;

  constructor(private readonly o: ProgressOptions) {
    this.stream = o.stream ?? process.stderr;
    this.now = o.now ?? (() => performance.now());
    this.tty = this.stream.isTTY === true;
    this.last = this.now();
  }

  /** Seconds per step over the last `window` steps (wall clock between updates, evals and checkpoints included). */
  get secondsPerStep(): number {
    if (this.intervals.length === 0) return NaN;
    return this.intervals.reduce((a, b) => a + b, 0) / this.intervals.length / 1000;
  }

  update(m: Pick<StepMetrics, "step" | "stage" | "reward_mean" | "accuracy" | "entropy_mean">): void {
    const t = this.now();
    this.intervals.push(t - this.last);
    if (this.intervals.length > (this.o.window ?? 10)) this.intervals.shift();
    this.last = t;
    if (this.o.quiet) return;
    const text = formatProgress({ step: m.step, total: this.o.total, stage: m.stage, reward: m.reward_mean, accuracy: m.accuracy, entropy: m.entropy_mean, secondsPerStep: this.secondsPerStep });
    if (!this.tty) {
      this.stream.write(`${text}\n`);
      return;
    }
    const cols = this.stream.columns ?? 80;
    const withBar = this.o.total === null ? text : `${formatBar(m.step, this.o.total, 20)} ${text}`;
    // Never wrap: a wrapped line cannot be redrawn with a carriage return.
    const line = withBar.length < cols ? withBar : text.slice(0, Math.max(0, cols - 1));
    this.shown = line;
    this.stream.write(`\r${line}\x1b[K`);
  }

  /** A message on its own line; on a TTY the progress line is redrawn below it. */
  note(msg: string): void {
    if (this.o.quiet) return;
    if (!this.tty) {
      this.stream.write(`${msg}\n`);
      return;
    }
    this.stream.write(`\r\x1b[K${msg}\n`);
    if (this.shown !== null) this.stream.write(`${this.shown}\x1b[K`);
  }

  /** End the display: leave the last progress line in place and move to a new line. */
  done(): void {
    if (this.o.quiet || !this.tty || this.shown === null) return;
    this.stream.write("\n");
    this.shown = null;
  }
}
