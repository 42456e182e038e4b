// Hostile input to `acpo check`: special files are refused without reading them (they
// once hung or read gigabytes: /dev/zero, /dev/urandom, a FIFO, `extends "/dev/zero"`),
// bare-CR line endings are named, literals that float64 cannot hold are refused in files
// and in --set, and rollout settings are bounded to what the runtime supports.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { MAX_SOURCE_BYTES } from "../../compiler/source.js";
import { at, check, withBody } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "acpo-hostile-"));
const fifo = join(dir, "pipe.acpo");
execFileSync("mkfifo", [fifo]);

describe("special files", () => {
  it.each([
    ["/dev/zero", "/dev/zero is a character device, not a regular file; pipeline files are plain text files"],
    ["/dev/urandom", "/dev/urandom is a character device, not a regular file; pipeline files are plain text files"],
    [fifo, `${fifo} is a FIFO (named pipe), not a regular file; pipeline files are plain text files`],
    [dir, `${dir} is a directory, not a pipeline file`],
  ])("%s is refused with E0001, unread", (path, message) => {
    const r = loadPipeline(path);
    expect(r.diagnostics).toEqual([{ code: "E0001", message, file: path, hint: undefined }]);
  });

  it('`extends "/dev/zero"` is refused at the extends', () => {
    const text = withBody("").replace("pipeline t {", 'pipeline t extends "/dev/zero" {');
    const r = check(text);
    expect(r.diagnostics.map((d) => ({ code: d.code, message: d.message, line: d.span?.line, col: d.span?.col }))).toEqual([
      { code: "E0601", message: 'cannot extend "/dev/zero": /dev/zero is a character device, not a regular file; pipeline files are plain text files', ...at(text, '"/dev/zero"') },
    ]);
  });

  it("a file over 1 MiB is refused after reading at most 1 MiB + 1 byte", () => {
    const p = join(dir, "big.acpo");
    writeFileSync(p, "#".repeat(MAX_SOURCE_BYTES + 10));
    expect(loadPipeline(p).diagnostics.map((d) => d.message)).toEqual([`${p} is ${MAX_SOURCE_BYTES + 10} bytes; pipeline files are limited to ${MAX_SOURCE_BYTES} bytes (1 MiB)`]);
  });
});

describe("line endings", () => {
  it("bare CR line endings are E0006 naming the first one", () => {
    const p = join(dir, "mac.acpo");
    writeFileSync(p, withBody("  # a comment that would swallow the rest\r  let x = 1").replace(/\n/g, "\r"));
    const r = loadPipeline(p);
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({ code: "E0006", file: p, message: `${p} ends lines with a bare carriage return (CR, first at line 1, offset 12); lines must end with LF or CRLF` });
  });

  it("CRLF line endings check, with LF positions", () => {
    const text = withBody("  let x = Hh").replace(/\n/g, "\r\n");
    const r = check(text);
    expect(r.diagnostics.map((d) => ({ code: d.code, line: d.span?.line, col: d.span?.col }))).toEqual([{ code: "E0201", line: 9, col: 11 }]);
  });
});

describe("numbers float64 cannot hold", () => {
  it.each([
    ["1e-400", "--set e: `1e-400` is too small for a 64-bit float (it would be 0)"],
    ["-1e-400", "--set e: `-1e-400` is too small for a 64-bit float (it would be 0)"],
    ["1e400", "--set e: `1e400` is too large for a 64-bit float (it would be Infinity)"],
  ])("--set e=%s is E0602", (value, message) => {
    const r = check(withBody("  param e = 1"), undefined, [`e=${value}`]);
    expect(r.diagnostics.map((d) => ({ code: d.code, message: d.message, file: d.span?.file, col: d.span?.col }))).toEqual([{ code: "E0602", message, file: "--set[1]", col: 3 }]);
  });

  it("--set e=0 and e=5e-324 are kept exactly", () => {
    expect(check(withBody("  param e = 1"), undefined, ["e=0"]).pipeline!.params[0]!.value).toBe(0);
    expect(check(withBody("  param e = 1"), undefined, ["e=5e-324"]).pipeline!.params[0]!.value).toBe(5e-324);
  });
});

describe("rollout and seed bounds", () => {
  const one = (text: string) => check(text).diagnostics.map((d) => ({ code: d.code, message: d.message, line: d.span?.line, col: d.span?.col }));
  it.each([
    ["prompts 4", "prompts 1e30", "`prompts` must be an integer in [1, 65535], found 1e+30", "1e30"],
    ["max_tokens 16", "max_tokens 4294967297", "`max_tokens` must be an integer in [1, 65536], found 4294967297", "4294967297"],
    ["group 4", "group 100000", "`group` must be an integer in [2, 65535], found 100000", "100000"],
    ["group 4", "group 20000", "a rollout batch of 4 prompts × 20000 responses is 80000 responses; the sampler takes at most 65535 at once", "20000"],
    ["model \"m\"", "model \"m\"  seed 4294967296", "`seed` must be an integer in [0, 4294967295], found 4294967296", "4294967296"],
    ["max_tokens 16 }", "max_tokens 16 }\n  eval { every 5  samples 1e9 }", "`samples` must be an integer in [1, 65535], found 1000000000", "1e9"],
  ])("%s -> %s is E0401", (from, to, message, needle) => {
    const text = withBody("").replace(from, to);
    expect(one(text)).toEqual([{ code: "E0401", message, ...at(text, needle) }]);
  });
});
