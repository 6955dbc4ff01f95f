/**
 * The style-transfer engine: VGG19 features, Gatys losses, L-BFGS/Adam, coarse-to-fine. Knows nothing of Discord.
 * Importing it loads no compute library: tfjs (and later ONNX Runtime) is imported when createEngine picks it.
 */
export { createEngine, type Engine, type EngineOptions } from './engine.ts';
export { createComputeBackend, type ComputeBackendOptions } from './backends.ts';
export type { CaffeImage, ComputeBackend, Evaluation, LossSpec, Objective, ScaleTargets } from './compute.ts';
export { PRESETS, resolveSettings } from './presets.ts';
export { SETTING_LIMITS } from './settings-schema.ts';
export { isOutOfMemoryError, StylizeRequestError, BackendUnavailableError } from './errors.ts';
export { createBenchmark, type Benchmark, type BenchmarkOptions } from './benchmark.ts';
export * from './types.ts';
