// Errors the runtime raises. Each names what failed and what to do; none is a bare stack trace.

/** No WebGPU adapter could be obtained (no GPU and no software Vulkan driver, or a bad selector). */
export class NoAdapterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NoAdapterError";
  }
}

/** A kernel failed validation, compilation, or ran out of memory. `kernel` is the kernel's name. */
export class KernelError extends Error {
  constructor(
    readonly kernel: string,
    readonly kind: "validation" | "out-of-memory" | "compilation" | "internal",
    detail: string,
  ) {
    super(`kernel '${kernel}': ${kind} error: ${detail}`);
    this.name = "KernelError";
  }
}

/** The device was lost (driver reset, destroyed, out of memory at the driver level). */
export class DeviceLostError extends Error {
  constructor(reason: string, detail: string) {
    super(`GPU device lost (${reason}): ${detail}. Restart the process; if it repeats, run 'npx acpo doctor'.`);
    this.name = "DeviceLostError";
  }
}
