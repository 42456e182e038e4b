// Array type the plain-TypeScript references accept: Float64Array for finite-difference
// checks (so the numeric gradient is not drowned by fp32 rounding), Float32Array otherwise.
export type Arr = Float32Array | Float64Array;
