// Dispatch-shape helpers shared by the element-wise kernels.

/** Max workgroups per dimension WebGPU guarantees; larger 1-D grids fold into y. */
export const MAX_DIM = 65535;

/**
 * Workgroup counts covering `n` items, `perGroup` per workgroup, folded into 2-D when needed.
 * Pair with FLAT_INDEX in the kernel to recover the flat item index.
 */
export function grid1d(n: number, perGroup: number): [number, number] {
  const groups = Math.ceil(n / perGroup);
  if (groups <= MAX_DIM) return [groups, 1];
  const y = Math.ceil(groups / MAX_DIM);
  return [Math.ceil(groups / y), y];
}

/** WGSL: flat invocation index for a grid from grid1d (needs `gid` and `nwg` builtins). */
export const FLAT_INDEX = (perGroup: number): string => `(gid.x + gid.y * nwg.x * ${perGroup}u)`;

/** Builtin parameters for `fn main` of a grid1d kernel. */
export const GRID_PARAMS = "@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>";
