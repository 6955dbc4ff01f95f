import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/engine/onnx/proto.ts';

/**
 * Run in a child process by backend.test.ts: creates a one-node WebGPU session with whatever Vulkan loader
 * settings the environment holds, and prints {"ok":true} or {"ok":false,"error":…}. Dawn creates its Vulkan
 * instance once per process, so each loader setting needs a process of its own.
 */
const g = new GraphBuilder('child');
g.output(g.op('Relu', [g.input('x', [2])]), 'y', [2]);
try {
  const options = { executionProviders: ['webgpu'], logSeverityLevel: 4 } as const;
  const session = await ort.InferenceSession.create(g.encode(), options);
  const { y } = await session.run({ x: new ort.Tensor('float32', Float32Array.of(-1, 2), [2]) });
  process.stdout.write(`${JSON.stringify({ ok: true, y: Array.from(y!.data as Float32Array) })}\n`);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stdout.write(`${JSON.stringify({ ok: false, error: message })}\n`);
}
