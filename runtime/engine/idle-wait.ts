// Waiting for a software adapter's work without spinning the main thread.
//
// Dawn's Node binding resolves a pending promise (onSubmittedWorkDone, mapAsync,
// popErrorScope) by polling: it reschedules itself with setImmediate until the promise
// settles, so the main thread runs flat out for as long as the GPU works. On a software
// adapter (lavapipe) the "GPU" is this process's own threads, so the spin competes with the
// threads doing the work: in one quickstart step it was a third of the process's CPU time
// (bench/suites/step-profile.ts, spec/speed.md). Lowering the main thread's priority
// (gpu.ts) shrinks its share against our workers but not against other processes.
//
// So before awaiting, the Gpu sleeps (pollInterval) while any of the adapter's threads
// (those born while the device was created) is runnable — state R in
// /proc/self/task/<tid>/stat — and awaits Dawn's promise once they all sleep, when it
// resolves almost at once. The promise still says when the work is done: the watch only
// decides when to start asking, so a wrong guess costs time, never correctness.
import { closeSync, openSync, readdirSync, readSync } from "node:fs";

/** How the watch sees threads: the ids of this process's threads, and one thread's state letter. */
export interface ThreadReader {
  /** Thread ids now, or null where there is no /proc (not Linux). */
  tids(): number[] | null;
  /** The state letter (R running or runnable, S sleeping, ...), or null once the thread is gone. */
  state(tid: number): string | null;
}

/** The state letter of a /proc/<pid>/task/<tid>/stat line: the field after the command name, which may itself hold ')' and spaces. */
export function statState(line: string): string | null {
  const close = line.lastIndexOf(")");
  if (close < 0) return null;
  const s = line.slice(close + 2, close + 3);
  return /^[A-Za-z]$/.test(s) ? s : null;
}

/**
 * /proc/self/task, each watched thread's stat file kept open and read again in place (one
 * pread of a reused buffer per poll: opening, reading and closing the file each time cost
 * about as much main-thread CPU as the spin it replaces).
 */
class ProcThreads implements ThreadReader {
  private readonly fds = new Map<number, number>();
  private readonly buf = Buffer.alloc(512);

  tids(): number[] | null {
    try {
      return readdirSync("/proc/self/task").map(Number).filter(Number.isInteger);
    } catch {
      return null;
    }
  }

  state(tid: number): string | null {
    try {
      let fd = this.fds.get(tid);
      if (fd === undefined) this.fds.set(tid, (fd = openSync(`/proc/self/task/${tid}/stat`, "r")));
      const n = readSync(fd, this.buf, 0, this.buf.length, 0);
      return statState(this.buf.toString("latin1", 0, n));
    } catch {
      this.forget(tid);
      return null; // the thread has exited
    }
  }

  private forget(tid: number): void {
    const fd = this.fds.get(tid);
    this.fds.delete(tid);
    if (fd !== undefined) try { closeSync(fd); } catch { /* already closed */ }
  }
}

export const procThreads: ThreadReader = new ProcThreads();

/** Longest a settle waits for the threads to sleep; one that hits it turns the watch off (see settle). */
export const SETTLE_LIMIT_MS = 10_000;
/**
 * Sleep between polls: a sixteenth of the wait so far, from 1 ms up to MAX_POLL_MS. Each poll
 * costs the main thread about 0.1-0.2 ms (the timer and the reads), so polling every
 * millisecond through a long wait would cost a good part of the spin it replaces; a wait
 * ends at most 1/16 of its length (and MAX_POLL_MS) late.
 */
export const MAX_POLL_MS = 16;
/**
 * The first 3 ms of a wait poll on every turn of the event loop (0: setImmediate, as Dawn
 * does), so that short waits — a decode step's ids — end as soon as they did before: a timer
 * sleep wakes late on a loaded machine (the main thread runs at nice 19: gpu.ts), and 200
 * one-dispatch waits took a median 6.6-7.4 ms with the timer from the first millisecond
 * against 0.24-2.8 ms with Dawn's spin (load 10; 0.28-2.6 ms with this).
 */
export const SPIN_MS = 3;
export function pollInterval(elapsedMs: number): number {
  if (elapsedMs < SPIN_MS) return 0;
  return Math.min(MAX_POLL_MS, Math.max(1, Math.floor(elapsedMs / 16)));
}

const sleepMs = (ms: number) => new Promise<void>((r) => (ms > 0 ? setTimeout(r, ms) : setImmediate(r)));

/** The adapter's threads, and a wait that sleeps while they work. */
export class AdapterThreads {
  private on = true;

  constructor(
    readonly tids: readonly number[],
    private readonly reader: ThreadReader = procThreads,
    private readonly sleep: (ms: number) => Promise<void> = sleepMs,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * The threads born between `before` (tids() before the device was created) and now; null
   * when there is no /proc, or no thread was born (nothing to watch: wait as Dawn does).
   */
  static bornSince(before: number[] | null, reader: ThreadReader = procThreads): AdapterThreads | null {
    const after = reader.tids();
    if (before === null || after === null) return null;
    const old = new Set(before);
    const born = after.filter((t) => !old.has(t));
    return born.length > 0 ? new AdapterThreads(born, reader) : null;
  }

  /** Whether the watch is still used (a settle that hit SETTLE_LIMIT_MS turns it off). */
  get enabled(): boolean {
    return this.on;
  }

  /** Some watched thread is runnable: the adapter is still working. */
  busy(): boolean {
    return this.tids.some((t) => this.reader.state(t) === "R");
  }

  /**
   * Sleep until every watched thread sleeps. A thread that stays runnable for
   * SETTLE_LIMIT_MS is taken to be something other than the adapter's work (a thread that
   * polls, say): the watch then turns itself off and every later wait is Dawn's own.
   */
  async settle(): Promise<void> {
    if (!this.on) return;
    const t0 = this.now();
    while (this.busy()) {
      const elapsed = this.now() - t0;
      if (elapsed > SETTLE_LIMIT_MS) {
        this.on = false;
        return;
      }
      await this.sleep(pollInterval(elapsed));
    }
  }
}
