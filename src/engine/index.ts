/** The style-transfer engine: VGG19 features, Gatys losses, L-BFGS/Adam, coarse-to-fine. Knows nothing of Discord. */
export { selectBackend, currentBackend } from './backend.ts';
export { createEngine, type Engine, type EngineOptions } from './engine.ts';
export { PRESETS, resolveSettings } from './presets.ts';
export { SETTING_LIMITS } from './settings-schema.ts';
export { isOutOfMemoryError, StylizeRequestError, BackendUnavailableError } from './errors.ts';
export { createBenchmark, type Benchmark, type BenchmarkOptions } from './benchmark.ts';
export * from './types.ts';
