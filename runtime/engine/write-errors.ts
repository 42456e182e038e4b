// Failed writes told as a user needs them: which path, what the system said in words, and
// what to do. Node's own messages ("EROFS: read-only file system, open '/x/y.tmp-123'")
// name a temporary file and no remedy.

/** Why a write failed and what fixes it, by errno code. */
const WRITE_ERRNO: Record<string, { why: string; fix: string }> = {
  EACCES: { why: "permission denied", fix: "choose a folder you can write to, or change its permissions" },
  EPERM: { why: "operation not permitted", fix: "choose a folder you can write to, or change its permissions" },
  EROFS: { why: "the file system is read-only", fix: "choose a folder on a writable file system" },
  ENOSPC: { why: "no space left on the device", fix: "free some space" },
  EDQUOT: { why: "disk quota exceeded", fix: "free some space or raise the quota" },
  EFBIG: { why: "the file is larger than the file system allows", fix: "choose a folder on another file system" },
  ENOTDIR: { why: "a part of the path is a file, not a folder", fix: "choose another path, or move that file away" },
  EISDIR: { why: "a folder is in the way where a file must go", fix: "choose another path, or move that folder away" },
  EEXIST: { why: "something is already there", fix: "choose another path, or move it away" },
  ENOENT: { why: "a folder on the path does not exist", fix: "create it first, or choose another path" },
  ENAMETOOLONG: { why: "the path is too long", fix: "choose a shorter path" },
  EIO: { why: "an input/output error on the device", fix: "check the disk" },
};

/** The errno code of a Node file-system error, or null. */
export function errnoCode(e: unknown): string | null {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && /^E[A-Z]+$/.test(code) ? code : null;
}

/**
 * "<path>: cannot <action>: <why>; <fix>[; <after>]". `after` says how to continue once
 * fixed (e.g. "then continue with --resume DIR"). Errors without an errno code keep their
 * own message.
 */
export function writeErrorMessage(path: string, action: string, e: unknown, after?: string): string {
  const code = errnoCode(e);
  const known = code ? WRITE_ERRNO[code] : undefined;
  const why = known ? `${known.why} (${code})` : e instanceof Error ? e.message : String(e);
  const fix = [known?.fix, after].filter(Boolean).join("; ");
  return `${path}: cannot ${action}: ${why}${fix ? `; ${fix}` : ""}`;
}
