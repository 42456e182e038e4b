// The WebGPU context: device acquisition and teardown, buffer pool, upload/readback,
// pipeline cache, dispatch recording (many dispatches per pass and per submit), and
// error scopes that turn WebGPU errors into exceptions naming the kernel.
import { setPriority } from "node:os";
import { create, globals } from "webgpu";
import { DeviceLostError, KernelError, NoAdapterError } from "./errors.js";
import { AdapterThreads, procThreads } from "./idle-wait.js";
import { type Kernel, kernelSource, packUniforms } from "./kernel.js";
import { type DType, Tensor, dtypeBytes, numel } from "./tensor.js";

Object.assign(globalThis, globals);

export interface GpuOptions {
  /** Dawn backend: 'vulkan', 'metal', 'd3d12', 'opengl', ... Env: ACPO_BACKEND. */
  backend?: string;
  /** Adapter name as Dawn lists it (pass a wrong one to see the list). Env: ACPO_ADAPTER. */
  adapter?: string;
  powerPreference?: GPUPowerPreference;
  /**
   * Bytes one storage binding may hold, for tests of the ranged path: it may only LOWER the
   * adapter's maxStorageBufferBindingSize. Env: ACPO_MAX_BINDING_BYTES.
   */
  maxBindingBytes?: number;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  isSoftware: boolean;
  subgroupSize: [number, number];
  features: string[];
  limits: Record<string, number>;
}

/** What a Gpu counts (see `Gpu.stats`). */
export interface GpuCounters {
  dispatches: number;
  submits: number;
  readbacks: number;
}

/** Limits we raise from WebGPU's defaults to what the adapter supports. */
const RAISED_LIMITS = [
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupsPerDimension",
] as const;

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment upper bound

export class Gpu {
  /** Strong reference to Dawn's GPU object: if it is collected, in-flight work hangs or crashes. */
  private readonly instance: GPU;
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  readonly info: AdapterSummary;

  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: BindingLayout }>();
  /** Bind-group and pipeline layouts by binding signature (see `bindingLayout`): kernels with the same bindings share them. */
  private readonly layouts = new Map<string, BindingLayout>();
  /** Bind groups reused across dispatches with the same layout and buffers. */
  readonly bindGroups = new BindGroupCache();
  private readonly pool = new Map<number, GPUBuffer[]>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** Uniform words for the dispatches recorded since the last submit, one 256-byte slot each. */
  private uniformStaging = new Uint32Array(64 * (UNIFORM_SLOT / 4));
  private uniformSlots = 0;
  private uniformBuffer: GPUBuffer;
  private kernelsInBatch = new Set<string>();
  private lostError: DeviceLostError | null = null;
  private destroyed = false;
  /**
   * Counts since creation (benchmarks read these): compute dispatches recorded, command
   * buffers submitted, buffers mapped to read values back (each a wait for the GPU).
   */
  stats: GpuCounters = { dispatches: 0, submits: 0, readbacks: 0 };
  /** Bytes read back and pipelines compiled, for the step profile (bench/suites/step-profile.ts). */
  readonly volume = { bytesRead: 0, pipelines: 0 };
  /** A software adapter's threads, watched so that waits sleep rather than spin (idle-wait.ts); null: Dawn's own wait. */
  adapterThreads: AdapterThreads | null = null;
  /**
   * Buffer accounting in bytes (bucketed sizes, as allocated): `live` is held by tensors not
   * yet released, `peakLive` its maximum since creation or `resetPeak`, `allocated` every
   * buffer created (live + pooled): what the device holds.
   */
  readonly memory = { live: 0, peakLive: 0, allocated: 0 };
  /**
   * Bytes one storage binding may hold: the device's maxStorageBufferBindingSize, or less where
   * a test lowered it. Larger tensors are bound range by range (`bindingRanges`, tensor.ts views).
   */
  readonly maxBindingBytes: number;
  /** Byte alignment of a binding's offset (the device's minStorageBufferOffsetAlignment). */
  readonly bindingAlignment: number;

  private constructor(instance: GPU, adapter: GPUAdapter, device: GPUDevice, info: AdapterSummary, maxBindingBytes: number | undefined) {
    this.instance = instance;
    this.adapter = adapter;
    this.device = device;
    this.info = info;
    const limit = device.limits.maxStorageBufferBindingSize;
    this.maxBindingBytes = maxBindingBytes === undefined ? limit : Math.min(limit, maxBindingBytes);
    this.bindingAlignment = device.limits.minStorageBufferOffsetAlignment;
    this.uniformBuffer = this.createUniformBuffer(64);
    device.lost.then((l) => {
      if (!this.destroyed) this.lostError = new DeviceLostError(l.reason, l.message);
    });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      // Errors outside our scopes (should not happen); keep them visible, not fatal to the process.
      process.stderr.write(`acpo: uncaptured WebGPU error: ${ev.error.message}\n`);
    };
  }

  /** Acquire an adapter and device. Throws NoAdapterError with the fix when none is available. */
  static async create(opts: GpuOptions = {}): Promise<Gpu> {
    const backend = opts.backend ?? process.env.ACPO_BACKEND;
    const adapterName = opts.adapter ?? process.env.ACPO_ADAPTER;
    const flags = ["disable-dawn-features=timestamp_quantization"];
    if (backend) flags.push(`backend=${backend}`);
    if (adapterName) flags.push(`adapter=${adapterName}`);
    let instance: GPU;
    let adapter: GPUAdapter | null;
    const threadsBefore = procThreads.tids(); // the adapter's threads are those born from here on (idle-wait.ts)
    try {
      instance = create(flags);
      adapter = await instance.requestAdapter({ powerPreference: opts.powerPreference ?? "high-performance" });
    } catch (e) {
      throw new NoAdapterError(`${(e as Error).message.trim()}\n${NO_ADAPTER_HINT}`);
    }
    if (!adapter) {
      const sel = backend || adapterName ? ` for backend=${backend ?? "any"} adapter=${adapterName ?? "any"}` : "";
      throw new NoAdapterError(`no WebGPU adapter found${sel}.\n${NO_ADAPTER_HINT}`);
    }
    const requiredLimits: Record<string, number> = {};
    for (const name of RAISED_LIMITS) {
      const v = (adapter.limits as unknown as Record<string, number>)[name];
      if (typeof v === "number") requiredLimits[name] = v;
    }
    const wanted: GPUFeatureName[] = ["timestamp-query", "subgroups", "shader-f16"];
    const requiredFeatures = wanted.filter((f) => adapter!.features.has(f));
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: "acpo" });
    const info = summarize(adapter, backend);
    if (info.isSoftware && process.env.ACPO_NO_NICE !== "1") yieldCoresToSoftwareAdapter();
    const gpu = new Gpu(instance, adapter, device, info, opts.maxBindingBytes ?? bindingLimitFromEnv(process.env));
    if (info.isSoftware && process.env.ACPO_IDLE_WAIT !== "0") gpu.adapterThreads = AdapterThreads.bornSince(threadsBefore);
    return gpu;
  }

  // ---- buffers -------------------------------------------------------------------------

  /** A tensor from the pool (contents undefined). Release it with `release` to reuse its buffer. */
  empty(shape: readonly number[], label = "tensor", dtype: DType = "f32"): Tensor {
    const bytes = bucketBytes(numel(shape) * dtypeBytes(dtype));
    if (bytes > this.device.limits.maxBufferSize) {
      throw new Error(`tensor '${label}' [${shape}] needs ${bytes} bytes, which exceeds this device's maxBufferSize (${this.device.limits.maxBufferSize})`);
    }
    const free = this.pool.get(bytes);
    this.memory.live += bytes;
    this.memory.peakLive = Math.max(this.memory.peakLive, this.memory.live);
    if (!free?.length) this.memory.allocated += bytes;
    const buffer =
      free?.pop() ??
      this.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        label,
      });
    return new Tensor(buffer, [...shape], dtype, label);
  }

  /** A zero-filled tensor. The clear is recorded in order with other GPU work. */
  zeros(shape: readonly number[], label = "zeros", dtype: DType = "f32"): Tensor {
    const t = this.empty(shape, label, dtype);
    this.clear(t);
    return t;
  }

  /** Set every element of `t` to zero, recorded in order with other GPU work. */
  clear(t: Tensor): void {
    this.endPass();
    // A view clears its own range only (the rest of the buffer belongs to other views).
    if (t.isView) this.getEncoder().clearBuffer(t.buffer, t.byteOffset, t.byteLength);
    else this.getEncoder().clearBuffer(t.buffer, 0, t.buffer.size);
  }

  /** A tensor holding `data`; f32 unless the array is integer-typed. */
  upload(data: Float32Array | Uint32Array | Int32Array | number[], shape?: readonly number[], label = "upload"): Tensor {
    const arr = Array.isArray(data) ? new Float32Array(data) : data;
    const dtype: DType = arr instanceof Uint32Array ? "u32" : arr instanceof Int32Array ? "i32" : "f32";
    const t = this.empty(shape ?? [arr.length], label, dtype);
    if (numel(t.shape) !== arr.length) throw new Error(`upload '${label}': shape [${t.shape}] holds ${numel(t.shape)} elements, data has ${arr.length}`);
    this.write(t, arr);
    return t;
  }

  /** Overwrite the start of `t` with `data`, ordered after everything recorded so far. */
  write(t: Tensor, data: Float32Array | Uint32Array | Int32Array, elementOffset = 0): void {
    // queue.writeBuffer runs at the next queue operation; flush so earlier recorded work sees the old contents.
    if (this.encoder) this.flush();
    this.device.queue.writeBuffer(t.buffer, t.byteOffset + elementOffset * 4, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Return a tensor's buffer to the pool. The caller must not use `t` afterwards. */
  release(...ts: (Tensor | null | undefined)[]): void {
    for (const t of ts) {
      if (!t) continue;
      if (t.isView) throw new Error(`release '${t.label}': a view owns no buffer; release the tensor it views`);
      this.memory.live -= t.buffer.size;
      const list = this.pool.get(t.buffer.size) ?? [];
      list.push(t.buffer);
      this.pool.set(t.buffer.size, list);
    }
  }

  /**
   * Destroy the pooled (released) buffers. Between runs that share one Gpu (`acpo compare`,
   * `acpo sweep`): the next run's shapes differ, so the pool would only grow. Dawn reuses a
   * destroyed buffer's memory for the next allocation of the device, whereas the memory of a
   * destroyed device is not given back on lavapipe (each Gpu.create of a run leaked its
   * whole peak, ~1 GB per quickstart run, until a 35-run comparison was OOM-killed).
   */
  trimPool(): void {
    for (const [bytes, list] of this.pool) {
      for (const b of list) b.destroy();
      this.memory.allocated -= bytes * list.length;
    }
    this.pool.clear();
    this.bindGroups.clear();
  }

  /** A copy of the counters now; `countersSince(before)` gives what a stretch of work cost. */
  counters(): GpuCounters {
    return { ...this.stats };
  }

  /** Dispatches, submits and readbacks since the snapshot `before` (from `counters()`). */
  countersSince(before: GpuCounters): GpuCounters {
    return { dispatches: this.stats.dispatches - before.dispatches, submits: this.stats.submits - before.submits, readbacks: this.stats.readbacks - before.readbacks };
  }

  /** Start a new peak measurement from the bytes live now. */
  resetPeak(): void {
    this.memory.peakLive = this.memory.live;
  }

  /** Copy `src` into `dst` (whole tensor unless sizes given), recorded in order. */
  copy(dst: Tensor, src: Tensor, elements = Math.min(src.size, dst.size), srcOffset = 0, dstOffset = 0): void {
    // Offsets count 4-byte elements: a half-precision tensor would be misread, not copied.
    if (src.dtype === "f16" || dst.dtype === "f16") throw new Error(`copy '${src.label}' -> '${dst.label}': f16 tensors are not copied element-wise; cast from their f32 master (runtime/engine/ops/matmul-f16.ts)`);
    this.endPass();
    this.getEncoder().copyBufferToBuffer(src.buffer, src.byteOffset + srcOffset * 4, dst.buffer, dst.byteOffset + dstOffset * 4, elements * 4);
  }

  /** Flush recorded work and read a tensor back. The only way values reach the CPU. */
  async read(t: Tensor): Promise<Float32Array> {
    const bytes = await this.readBytes(t);
    return new Float32Array(bytes);
  }

  async readU32(t: Tensor): Promise<Uint32Array> {
    return new Uint32Array(await this.readBytes(t));
  }

  private async readBytes(t: Tensor): Promise<ArrayBuffer> {
    this.checkAlive();
    const staging = this.device.createBuffer({ size: t.byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: `readback ${t.label}` });
    this.endPass();
    this.getEncoder().copyBufferToBuffer(t.buffer, t.byteOffset, staging, 0, t.byteLength);
    await this.flushChecked();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      this.checkAlive();
      throw e;
    }
    const out = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    this.stats.readbacks++;
    this.volume.bytesRead += t.byteLength;
    return out;
  }

  // ---- kernels -------------------------------------------------------------------------

  /** The compiled pipeline for a kernel, compiled once per distinct WGSL source. */
  pipeline(k: Kernel): { pipeline: GPUComputePipeline; layout: BindingLayout } {
    const src = this.sourceOf(k);
    const hit = this.pipelines.get(src);
    if (hit) return hit;
    this.checkAlive();
    const module = this.device.createShaderModule({ code: src, label: k.name });
    const layout = this.bindingLayout(k);
    const pipeline = this.device.createComputePipeline({ layout: layout.pipelineLayout, compute: { module, entryPoint: "main" }, label: k.name });
    // Compilation errors surface asynchronously; `compileChecked` awaits them. Here we only cache.
    const entry = { pipeline, layout };
    this.pipelines.set(src, entry);
    this.volume.pipelines++;
    this.uncheckedSources.push({ name: k.name, module, source: src });
    return entry;
  }
  /**
   * A kernel's WGSL, generated once per kernel object: the dispatch path asks for it every time
   * (it is the pipeline cache's key) and generating it costs more than the rest of a dispatch's
   * bookkeeping. A kernel whose parts were replaced since (a new body, bindings or uniforms)
   * gets its source generated afresh.
   */
  private sourceOf(k: Kernel): string {
    const hit = this.sources.get(k);
    if (hit && hit.body === k.body && hit.bindings === k.bindings && hit.uniforms === k.uniforms && hit.enables === k.enables && hit.workgroupSize === k.workgroupSize && hit.name === k.name) return hit.src;
    const src = kernelSource(k);
    this.sources.set(k, { src, body: k.body, bindings: k.bindings, uniforms: k.uniforms, enables: k.enables, workgroupSize: k.workgroupSize, name: k.name });
    return src;
  }
  private readonly sources = new WeakMap<Kernel, Pick<Kernel, "body" | "bindings" | "uniforms" | "enables" | "workgroupSize" | "name"> & { src: string }>();

  /**
   * An explicit layout for a kernel's bindings (storage buffers in order, then the uniform slot
   * as a dynamic offset), shared by every kernel with the same signature. Explicit rather than
   * "auto" so that one bind group serves every uniform slot (the offset is given per dispatch)
   * and every kernel of the signature.
   */
  private bindingLayout(k: Kernel): BindingLayout {
    const signature = `${k.bindings.map((b) => (b.access === "read" ? "r" : "w")).join("")}${k.uniforms.length > 0 ? "+u" : ""}`;
    const hit = this.layouts.get(signature);
    if (hit) return hit;
    const entries: GPUBindGroupLayoutEntry[] = k.bindings.map((b, i) => ({
      binding: i,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: b.access === "read" ? "read-only-storage" : "storage" },
    }));
    if (k.uniforms.length > 0) entries.push({ binding: k.bindings.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: "uniform", hasDynamicOffset: true } });
    const group = this.device.createBindGroupLayout({ entries, label: `bindings ${signature}` });
    const layout = { signature, group, pipelineLayout: this.device.createPipelineLayout({ bindGroupLayouts: [group], label: `bindings ${signature}` }) };
    this.layouts.set(signature, layout);
    return layout;
  }

  /** Shader modules whose compilation messages have not been checked yet (checked at the next flushChecked). */
  private uncheckedSources: { name: string; module: GPUShaderModule; source: string }[] = [];

  /**
   * Record one dispatch of `k` with `buffers` bound in the kernel's binding order.
   * Nothing runs until `flush` (or a readback). Many dispatches share one pass and one submit.
   */
  dispatch(k: Kernel, buffers: Tensor[], uniforms: Record<string, number>, workgroups: [number, number?, number?]): void {
    this.checkAlive();
    if (buffers.length !== k.bindings.length) {
      throw new Error(`kernel '${k.name}': expected ${k.bindings.length} buffers (${k.bindings.map((b) => b.name).join(", ")}), got ${buffers.length}`);
    }
    const [x, y = 1, z = 1] = workgroups;
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxDim || y > maxDim || z > maxDim) throw new Error(`kernel '${k.name}': dispatch (${x}, ${y}, ${z}) exceeds ${maxDim} workgroups per dimension`);
    if (x === 0 || y === 0 || z === 0) return;
    if (k.uniforms.length > 0 && this.uniformBuffer.size < (this.uniformSlots + 1) * UNIFORM_SLOT) {
      // The uniform buffer is full for this batch: submit what we have (it grows) and start at slot 0.
      this.flush();
    }
    const bound = buffers.map((t, i) => this.bindingOf(k, i, t));
    assertNoWritableOverlap(k, buffers, bound);
    const { pipeline, layout } = this.pipeline(k);
    const offsets: number[] = [];
    if (k.uniforms.length > 0) {
      const slot = this.uniformSlots++;
      this.growUniformStaging(this.uniformSlots);
      this.uniformStaging.set(packUniforms(k, uniforms), slot * (UNIFORM_SLOT / 4));
      bound.push({ buffer: this.uniformBuffer, offset: 0, size: UNIFORM_SLOT });
      offsets.push(slot * UNIFORM_SLOT);
    }
    const bindGroup = this.bindGroups.get(layout.signature, bound, () => this.createBindGroupChecked(k, layout, bound));
    const pass = this.getPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup, offsets);
    pass.dispatchWorkgroups(x, y, z);
    this.kernelsInBatch.add(k.name);
    this.stats.dispatches++;
  }

  /**
   * What binding `i` of `k` binds for tensor `t`: the whole buffer when it fits one binding
   * (the common case: a pooled buffer reused by another tensor keeps its bind groups), else
   * the tensor's own byte range. A range larger than a binding is refused here, naming the
   * kernel and the tensor, before Dawn would reject the whole batch.
   */
  private bindingOf(k: Kernel, i: number, t: Tensor): BoundRange {
    if (!t.isView && t.buffer.size <= this.maxBindingBytes) return { buffer: t.buffer };
    if (t.byteLength > this.maxBindingBytes) {
      throw new Error(`kernel '${k.name}': binding '${k.bindings[i]?.name}' gets tensor '${t.label}' of ${t.byteLength} bytes, more than one storage binding holds (${this.maxBindingBytes}); run it over row ranges (gpu.bindingRanges)`);
    }
    if (t.byteOffset % this.bindingAlignment !== 0) {
      throw new Error(`kernel '${k.name}': binding '${k.bindings[i]?.name}' gets view '${t.label}' at byte ${t.byteOffset}, not a multiple of minStorageBufferOffsetAlignment (${this.bindingAlignment})`);
    }
    return { buffer: t.buffer, offset: t.byteOffset, size: Math.max(4, t.byteLength) };
  }

  /**
   * Ranges of `count` units (rows, or elements) of one or more tensors such that each range is
   * one binding: a range's bytes (units x the largest `unitBytes`) fit `maxBindingBytes`, and
   * every tensor's range starts at a multiple of the offset alignment (units per range are a
   * multiple of what each tensor's unit size needs, and of `quantum`). One range [0, count)
   * when every tensor binds whole. Throws when not even one aligned group of units fits.
   */
  bindingRanges(count: number, unitBytes: readonly number[], what: string, quantum = 1): { start: number; count: number }[] {
    return planBindingRanges(count, unitBytes, { limit: this.maxBindingBytes, alignment: this.bindingAlignment }, what, quantum);
  }

  /**
   * A bind group made inside its own validation scope: Dawn reports a bad group only when the
   * batch is finished, in words that do not name the dispatch, so the scope's verdict is kept
   * with the kernel's name and `flushChecked` blames that kernel.
   */
  private createBindGroupChecked(k: Kernel, layout: BindingLayout, bound: BoundRange[]): GPUBindGroup {
    this.device.pushErrorScope("validation");
    const group = this.createBindGroup(k, layout, bound);
    this.groupChecks.push(this.device.popErrorScope().then((err) => (err ? { kernel: k.name, message: err.message } : null)));
    return group;
  }

  /** Verdicts of the bind groups made since the last flushChecked (see createBindGroupChecked). */
  private groupChecks: Promise<{ kernel: string; message: string } | null>[] = [];

  /** Storage bindings (whole buffers or ranges) in binding order, then the uniform buffer's first slot (the dispatch adds its slot's offset). */
  private createBindGroup(k: Kernel, layout: BindingLayout, bound: BoundRange[]): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = bound.map((resource, i) => ({ binding: i, resource }));
    // Groups are shared by every kernel with the same signature and bindings: the label names
    // the signature, not the kernel that happened to make it, so that an error does not blame it.
    return this.device.createBindGroup({ layout: layout.group, entries, label: `bindings ${layout.signature}` });
  }

  /** Submit everything recorded so far. Does not wait for the GPU. */
  flush(): void {
    this.endPass();
    if (!this.encoder) return;
    if (this.uniformSlots > 0) {
      this.device.queue.writeBuffer(this.uniformBuffer, 0, this.uniformStaging.buffer, 0, this.uniformSlots * UNIFORM_SLOT);
    }
    const cmd = this.encoder.finish();
    this.encoder = null;
    this.device.queue.submit([cmd]);
    this.stats.submits++;
    // Grow the uniform buffer for the next batch if this one filled it.
    if (this.uniformSlots * UNIFORM_SLOT >= this.uniformBuffer.size) {
      const old = this.uniformBuffer;
      this.uniformBuffer = this.createUniformBuffer(this.uniformSlots * 2);
      this.bindGroups.forget(old); // its groups would bind a destroyed buffer
      old.destroy();
    }
    this.uniformSlots = 0;
  }

  /**
   * Submit recorded work inside validation and out-of-memory error scopes and wait for it.
   * Errors become a KernelError naming the kernels of the batch (and the one Dawn names).
   */
  async flushChecked(): Promise<void> {
    this.checkAlive();
    const kernels = [...this.kernelsInBatch];
    this.kernelsInBatch.clear();
    for (const c of this.uncheckedSources.splice(0)) await this.checkCompilation(c.name, c.module, c.source);
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    this.flush();
    await this.adapterThreads?.settle(); // sleep while a software adapter works, instead of Dawn's polling spin
    const validation = await this.device.popErrorScope();
    const oom = await this.device.popErrorScope();
    await this.device.queue.onSubmittedWorkDone();
    this.checkAlive();
    // A rejected bind group fails the whole batch; its kernel is the one to name.
    const badGroup = (await Promise.all(this.groupChecks.splice(0))).find((g) => g !== null);
    if (badGroup) throw new KernelError(badGroup.kernel, "validation", badGroup.message);
    for (const [err, kind] of [[validation, "validation"], [oom, "out-of-memory"]] as const) {
      if (err) throw new KernelError(blame(err.message, kernels), kind, err.message);
    }
  }

  /** Wait until the GPU has finished everything submitted (flushes first). */
  async sync(): Promise<void> {
    await this.flushChecked();
  }

  private async checkCompilation(name: string, module: GPUShaderModule, source: string): Promise<void> {
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === "error");
    if (errors.length > 0) {
      this.pipelines.delete(source); // never reuse a broken pipeline
      throw new KernelError(name, "compilation", errors.map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`).join("; "));
    }
  }

  /** Compile a kernel now and throw if WGSL compilation fails (tests and warm-up use this). */
  async compile(k: Kernel): Promise<void> {
    this.device.pushErrorScope("validation");
    this.pipeline(k);
    const err = await this.device.popErrorScope();
    for (const c of this.uncheckedSources.splice(0)) await this.checkCompilation(c.name, c.module, c.source);
    if (err) {
      this.pipelines.delete(kernelSource(k));
      throw new KernelError(k.name, "validation", err.message);
    }
  }

  // ---- lifetime ------------------------------------------------------------------------

  /** Finish outstanding work and release the device; the process can then exit. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    try {
      if (!this.lostError) await this.flushChecked();
    } finally {
      this.destroyed = true;
      for (const list of this.pool.values()) for (const b of list) b.destroy();
      this.pool.clear();
      this.bindGroups.clear();
      this.pipelines.clear();
      this.uniformBuffer.destroy();
      this.device.destroy();
    }
  }

  private checkAlive(): void {
    if (this.lostError) throw this.lostError;
    if (this.destroyed) throw new Error("GPU context used after destroy()");
  }

  private getEncoder(): GPUCommandEncoder {
    this.checkAlive();
    this.encoder ??= this.device.createCommandEncoder({ label: "acpo" });
    return this.encoder;
  }

  private getPass(): GPUComputePassEncoder {
    this.pass ??= this.getEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private createUniformBuffer(slots: number): GPUBuffer {
    return this.device.createBuffer({ size: slots * UNIFORM_SLOT, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: "uniforms" });
  }

  private growUniformStaging(slots: number): void {
    const need = slots * (UNIFORM_SLOT / 4);
    if (need <= this.uniformStaging.length) return;
    const bigger = new Uint32Array(Math.max(need, this.uniformStaging.length * 2));
    bigger.set(this.uniformStaging);
    this.uniformStaging = bigger;
  }
}

/** One storage binding: a whole buffer, or `size` bytes of it from `offset` (a view, or the uniform slot). */
export interface BoundRange {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

/** A kernel's binding layout: its signature (one letter per storage binding, "+u" for uniforms) and the layouts made for it. */
export interface BindingLayout {
  signature: string;
  group: GPUBindGroupLayout;
  pipelineLayout: GPUPipelineLayout;
}

/**
 * Bind groups kept across dispatches: creating one costs main-thread time in Dawn on every
 * dispatch (about 100-200 us here on lavapipe), while a training step binds the same few
 * buffers over and over. A group is keyed by its layout's signature and its buffers' identities
 * (the uniform slot is a dynamic offset, not part of the key) and, for a range of a buffer, the
 * range's offset and size. A group binds whole buffers or fixed ranges of them, so a pooled
 * buffer reused by another tensor keeps its groups valid; a buffer about to be destroyed
 * must be forgotten first, or a later dispatch would bind a destroyed buffer. At most `limit`
 * groups are kept, the oldest dropped first, so an unbounded stream of fresh buffers cannot grow it.
 */
export class BindGroupCache {
  private readonly ids = new WeakMap<GPUBuffer, number>();
  private nextId = 1;
  private readonly groups = new Map<string, { group: GPUBindGroup; ids: number[] }>();
  private readonly keysOf = new Map<number, Set<string>>();
  /** Groups made and groups reused since creation (tests and benchmarks read these). */
  readonly stats = { created: 0, reused: 0 };

  constructor(private readonly limit = 4096) {}

  /** The group for this signature and these buffers, made with `make` the first time. */
  get(signature: string, bound: readonly (GPUBuffer | BoundRange)[], make: () => GPUBindGroup): GPUBindGroup {
    const ranges = bound.map((b): BoundRange => ("buffer" in b ? b : { buffer: b }));
    const ids = ranges.map((r) => this.idOf(r.buffer));
    const key = `${signature}:${ranges.map((r, i) => (r.size === undefined ? `${ids[i]}` : `${ids[i]}@${r.offset ?? 0}+${r.size}`)).join(",")}`;
    const hit = this.groups.get(key);
    if (hit) {
      this.stats.reused++;
      return hit.group;
    }
    const group = make();
    this.stats.created++;
    this.groups.set(key, { group, ids });
    for (const id of ids) {
      let keys = this.keysOf.get(id);
      if (!keys) this.keysOf.set(id, (keys = new Set()));
      keys.add(key);
    }
    if (this.groups.size > this.limit) this.drop(this.groups.keys().next().value!);
    return group;
  }

  /** Drop every group that binds `buffer` (call before destroying it). */
  forget(buffer: GPUBuffer): void {
    const id = this.ids.get(buffer);
    if (id === undefined) return;
    for (const key of [...(this.keysOf.get(id) ?? [])]) this.drop(key);
    this.keysOf.delete(id);
  }

  /** Groups held now. */
  get size(): number {
    return this.groups.size;
  }

  clear(): void {
    this.groups.clear();
    this.keysOf.clear();
  }

  private idOf(b: GPUBuffer): number {
    let id = this.ids.get(b);
    if (id === undefined) this.ids.set(b, (id = this.nextId++));
    return id;
  }

  private drop(key: string): void {
    const entry = this.groups.get(key);
    if (!entry) return;
    this.groups.delete(key);
    for (const id of entry.ids) this.keysOf.get(id)?.delete(key);
  }
}

/** ACPO_MAX_BINDING_BYTES: a positive whole number of bytes, a multiple of 4 (tests lower the binding limit with it). */
export function bindingLimitFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.ACPO_MAX_BINDING_BYTES;
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!(Number.isInteger(n) && n > 0 && n % 4 === 0)) throw new Error(`ACPO_MAX_BINDING_BYTES=${raw}: expected a positive whole number of bytes, a multiple of 4`);
  return n;
}

/** See `Gpu.bindingRanges`; here for plans made without a device (`acpo doctor`'s memory plan). */
export function planBindingRanges(count: number, unitBytes: readonly number[], { limit, alignment }: { limit: number; alignment: number }, what: string, quantum = 1): { start: number; count: number }[] {
  const widest = Math.max(...unitBytes);
  if (count * widest <= limit) return [{ start: 0, count }];
  if (widest > limit) throw new Error(`${what}: one row of ${widest} bytes exceeds one storage binding (${limit} bytes), so it cannot be split into row ranges`);
  const step = unitBytes.reduce((q, b) => lcm(q, alignment / gcd(b, alignment)), quantum);
  const per = Math.floor(limit / widest / step) * step;
  if (per === 0) {
    throw new Error(`${what}: ${step} unit(s) of ${widest} bytes (the smallest range whose offsets keep the ${alignment}-byte alignment) exceed one storage binding (${limit} bytes); this tensor cannot be split into bindable ranges`);
  }
  const out: { start: number; count: number }[] = [];
  for (let start = 0; start < count; start += per) out.push({ start, count: Math.min(per, count - start) });
  return out;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const lcm = (a: number, b: number): number => (a / gcd(a, b)) * b;

/**
 * Dawn's node binding waits for GPU work by polling on the JS main thread. With a software
 * adapter the "GPU" is lavapipe's worker threads on the same CPU cores, so the poller steals a
 * core from the work it waits for (measured: matmul 4-6 -> 12-15 GFLOP/s on 2 cores). Lower the
 * main thread's priority only: on Linux setpriority acts per thread, and lavapipe's workers,
 * started with the device, keep theirs. ACPO_NO_NICE=1 turns this off.
 */
function yieldCoresToSoftwareAdapter(): void {
  try {
    setPriority(19);
  } catch {
    // Not permitted here: run at normal priority.
  }
}

/** Round buffer sizes up so that the pool can reuse buffers of nearby sizes. */
export function bucketBytes(bytes: number): number {
  const min = Math.max(bytes, 16);
  if (min <= 4096) return Math.ceil(min / 256) * 256;
  // Within 1/8 of a power of two: at most 12.5 % waste.
  const step = 2 ** Math.max(8, Math.floor(Math.log2(min)) - 3);
  return Math.ceil(min / step) * step;
}

/**
 * Refuse a dispatch that binds a writable range overlapping another binding of the same buffer
 * (WebGPU forbids it): here the kernel is known, while Dawn reports it for the whole batch.
 */
function assertNoWritableOverlap(k: Kernel, ts: readonly Tensor[], bound: readonly BoundRange[]): void {
  const span = (r: BoundRange): [number, number] => [r.offset ?? 0, (r.offset ?? 0) + (r.size ?? r.buffer.size)];
  for (let i = 0; i < ts.length; i++) {
    if (k.bindings[i]!.access !== "read_write") continue;
    for (let j = 0; j < ts.length; j++) {
      const a = ts[i]!, b = ts[j]!;
      if (i === j || a.buffer !== b.buffer) continue;
      const [a0, a1] = span(bound[i]!), [b0, b1] = span(bound[j]!);
      if (a0 < b1 && b0 < a1) {
        throw new KernelError(k.name, "validation", `writable binding '${k.bindings[i]!.name}' ('${a.label}') overlaps binding '${k.bindings[j]!.name}' ('${b.label}') of the same buffer`);
      }
    }
  }
}

/** Pick the kernel Dawn's message names (labels are kernel names), else list the batch. */
function blame(message: string, kernels: string[]): string {
  const named = kernels.find((k) => message.includes(`"${k}"`));
  return named ?? (kernels.length === 1 ? kernels[0]! : `one of [${kernels.join(", ")}]`);
}

export const NO_ADAPTER_HINT = [
  "acpo needs a WebGPU adapter. Without a GPU, Dawn uses a software Vulkan driver (Mesa lavapipe >= 24).",
  "On Debian 12 as root, 'npm install' sets it up; by hand: add bookworm-backports to apt sources, then",
  "  apt-get update && apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1",
  "Elsewhere install your GPU's Vulkan/Metal/D3D12 driver or Mesa's lavapipe, then run 'npx acpo doctor'.",
  "Choose a backend or adapter with --backend/--adapter or ACPO_BACKEND/ACPO_ADAPTER.",
].join("\n");

function summarize(adapter: GPUAdapter, backend: string | undefined): AdapterSummary {
  const i = adapter.info;
  const limits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) limits[name] = (adapter.limits as unknown as Record<string, number>)[name]!;
  const info = i as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const isSoftware = i.architecture === "software" || /llvmpipe|lavapipe|swiftshader/i.test(`${i.device} ${i.description}`);
  return {
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    backend: backend ?? guessBackend(),
    isSoftware,
    subgroupSize: [info.subgroupMinSize ?? 0, info.subgroupMaxSize ?? 0],
    features: [...adapter.features].sort(),
    limits,
  };
}

function guessBackend(): string {
  return process.platform === "darwin" ? "metal" : process.platform === "win32" ? "d3d12" : "vulkan";
}
