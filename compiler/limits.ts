// Limits on the size of programs, each documented in spec/language.md ("Limits") and each
// reported with a positioned diagnostic (E0105) when exceeded, never a stack overflow.

/**
 * How deeply expressions and blocks may nest (parentheses, call arguments, `if` conditions
 * and branches, `{}` blocks each count one level), and how long a chain of lets, params or
 * fn calls defined through one another may be. Operator chains are not nesting: a sum of
 * 10,000 terms, `else if` chains and runs of `-` or `not` are flat lists. The parser needs
 * about a dozen stack frames per level, so 100 levels stay far from the stack's end
 * wherever the compiler is called from.
 */
export const MAX_NESTING = 100;

/** Most expression nodes that fn calls may copy in (each call site checks its own copy of the body). */
export const MAX_EXPANSION = 100_000;

/**
 * Most responses in one rollout batch (prompts × group): the rows the sampler decodes at
 * once. 65,535 is WebGPU's guaranteed number of workgroups per grid dimension (one per row
 * in runtime/engine/ops/sample.ts) and stays well below the ~120,000 rows at which the rollout's
 * per-row argument spreads (runtime/engine/model/generate.ts) exhaust the stack.
 */
export const MAX_BATCH_ROWS = 65_535;

/** Most tokens sampled per response; a model's max_position_embeddings bounds it further at run time. */
export const MAX_NEW_TOKENS = 65_536;

/** Most Monte-Carlo value rollouts per step prefix (`rollout { mc_rollouts K }`); VinePPO uses K = 9 at most. */
export const MAX_MC_ROLLOUTS = 64;

/** Longest `judge` question or verdict, in characters: both are fed to the judge once per step of every response. */
export const MAX_JUDGE_TEXT = 4096;

/** Seeds are u32: the run's RNG (runtime/engine/rng.ts) and the kernels read them as 32-bit words. */
export const MAX_SEED = 4_294_967_295;
