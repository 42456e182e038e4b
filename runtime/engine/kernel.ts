// A kernel is a small data object: name, WGSL body, bindings, uniforms, workgroup size.
// The runtime generates the prelude (bindings in a fixed order, then one uniform struct),
// so kernel authors write only the entry point and helpers. Shapes travel as uniforms,
// so one compiled pipeline serves every size; the pipeline cache is keyed by the full source.

export type ScalarType = "f32" | "u32" | "i32";

export interface Binding {
  /** WGSL variable name. */
  name: string;
  /** 'read' for inputs, 'read_write' for outputs and in-place updates. */
  access: "read" | "read_write";
  /** Element type of the array; defaults to f32 ("f16" needs `enables: ["f16"]`). */
  type?: ScalarType | "vec4<f32>" | "f16";
}

export interface Uniform {
  name: string;
  type: ScalarType;
}

export interface Kernel {
  /** Human-readable name; appears in every error about this kernel. */
  name: string;
  /** Storage buffers, bound at @group(0) @binding(0..n-1) in this order. */
  bindings: Binding[];
  /** Scalars packed into one uniform struct `u` at @binding(n); empty for none. */
  uniforms: Uniform[];
  /** @workgroup_size of the entry point `main`. */
  workgroupSize: [number, number, number];
  /** WGSL after the prelude: must define `fn main` (the runtime adds the attributes). */
  body: string;
  /** Extra `enable` directives (e.g. "subgroups"). */
  enables?: string[];
}

/** Full WGSL source of a kernel: prelude + body. This string is the pipeline cache key. */
export function kernelSource(k: Kernel): string {
  const lines: string[] = [];
  for (const e of k.enables ?? []) lines.push(`enable ${e};`);
  k.bindings.forEach((b, i) => {
    const t = b.type ?? "f32";
    const access = b.access === "read" ? "read" : "read_write";
    lines.push(`@group(0) @binding(${i}) var<storage, ${access}> ${b.name}: array<${t}>;`);
  });
  if (k.uniforms.length > 0) {
    lines.push(`struct Uniforms { ${k.uniforms.map((u) => `${u.name}: ${u.type},`).join(" ")} }`);
    lines.push(`@group(0) @binding(${k.bindings.length}) var<uniform> u: Uniforms;`);
  }
  const [x, y, z] = k.workgroupSize;
  const body = k.body.replace(/(^|\n)\s*fn main\s*\(/, `$1@compute @workgroup_size(${x}, ${y}, ${z})\nfn main(`);
  if (body === k.body) throw new Error(`kernel '${k.name}': body must define 'fn main(...)'`);
  lines.push(body);
  return lines.join("\n");
}

/** Uniform values in declaration order, packed as 4-byte words. */
export function packUniforms(k: Kernel, values: Record<string, number>): Uint32Array {
  const words = new Uint32Array(Math.max(4, Math.ceil(k.uniforms.length / 4) * 4));
  const f32 = new Float32Array(words.buffer);
  const i32 = new Int32Array(words.buffer);
  k.uniforms.forEach((u, i) => {
    const v = values[u.name];
    if (v === undefined) throw new Error(`kernel '${k.name}': missing uniform '${u.name}'`);
    if (u.type === "f32") f32[i] = v;
    else if (u.type === "i32") i32[i] = v;
    else {
      if (!Number.isInteger(v) || v < 0) throw new Error(`kernel '${k.name}': uniform '${u.name}' must be a non-negative integer, got ${v}`);
      words[i] = v;
    }
  });
  return words;
}
