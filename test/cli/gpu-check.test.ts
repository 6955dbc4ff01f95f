import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared-data.ts';

/** `npm run gpu-check` as an admin runs it: the real ONNX Runtime and Vulkan loader of this machine. */
function gpuCheck(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/gpu-check.ts', ...args],
      { cwd: REPO_ROOT, env: { ...process.env, DOTENV_CONFIG_PATH: '/nonexistent' }, timeout: 120_000 },
      (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

const lavapipe = existsSync('/usr/share/vulkan/icd.d/lvp_icd.x86_64.json') || existsSync('/usr/share/vulkan/icd.d/lvp_icd.json');

describe('npm run gpu-check', () => {
  it('on a machine without a GPU, names each GPU path with why it is missing and exits 1 with one line', async () => {
    const result = await gpuCheck(['--sizes', '32', '--iters', '1']);
    expect(result.stdout).toMatch(/^✗ WebGPU \(ONNX Runtime\): .+$/m);
    expect(result.stdout).toMatch(/^✗ CUDA \(ONNX Runtime\): .*ONNXRUNTIME_NODE_INSTALL=cuda12/m);
    expect(result.stdout).toMatch(/^✗ CUDA \(tfjs-node-gpu\): .+$/m);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^No GPU path works on this machine \(WebGPU .*; CUDA .*; CUDA .*\)\. The bot runs on the CPU/);
  }, 120_000);

  it.skipIf(!lavapipe)('with --allow-software, runs the WebGPU path on a software adapter and times it', async () => {
    const result = await gpuCheck(['--sizes', '32', '--iters', '1', '--allow-software', '--json']);
    const summary = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as {
      ok: boolean;
      paths: { path: string; available: boolean; detail: string; msPerIter?: Record<string, number | string> }[];
    };
    const webgpu = summary.paths.find((p) => p.path === 'WebGPU (ONNX Runtime)')!;
    expect(webgpu.detail).toMatch(/software/);
    expect(typeof webgpu.msPerIter?.['32']).toBe('number');
    expect(summary.ok).toBe(true);
    expect(result.code).toBe(0);
  }, 120_000);
});
