import type { BackendChoice } from '../../src/config/schema.ts';
import { createComputeBackend } from '../../src/engine/backends.ts';
import type { ComputeBackend } from '../../src/engine/compute.ts';
import type { VggWeights } from '../../src/weights/types.ts';

/**
 * The compute backends the engine suites run against (`describe.each(backendsUnderTest)`): every one must pass
 * the same objective and stylize tests. To add one, append an entry; the suites need nothing else.
 */
export interface BackendUnderTest {
  /** Shown in test titles. */
  readonly name: string;
  /** The ENGINE_BACKEND value that selects it. */
  readonly choice: BackendChoice;
  /** Loss terms and gradient must agree with tfjs-cpu's (the reference) within this relative error. */
  readonly tolerance: number;
  /** Fast enough for the real VGG19 and megapixel images in tests (plain-JavaScript tfjs is not). */
  readonly fast: boolean;
  /** Allocations alive on the backend (tfjs tensors), for leak checks; undefined when it cannot tell. */
  readonly liveAllocations?: () => Promise<number>;
}

const tfjsTensors = async () => (await import('@tensorflow/tfjs')).memory().numTensors;

export const backendsUnderTest: readonly BackendUnderTest[] = [
  { name: 'tfjs-cpu', choice: 'cpu', tolerance: 1e-6, fast: false, liveAllocations: tfjsTensors },
  { name: 'tfjs-wasm', choice: 'wasm', tolerance: 1e-4, fast: true, liveAllocations: tfjsTensors },
  { name: 'onnx-cpu', choice: 'onnx', tolerance: 1e-4, fast: true },
];

export function createBackend(backend: BackendUnderTest, weights: VggWeights): Promise<ComputeBackend> {
  return createComputeBackend(backend.choice, weights);
}
