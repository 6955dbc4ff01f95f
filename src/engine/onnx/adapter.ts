import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Which GPU ONNX Runtime's WebGPU provider would run on, and keeping it off software adapters.
 *
 * onnxruntime-node exposes nothing about the adapter: the WebGPU provider (Dawn, inside libonnxruntime) reads its
 * name and vendor but neither logs nor returns them, and the library exports no wgpu symbols to ask. On Linux,
 * though, Dawn's only backend is Vulkan, so its adapters are exactly the Vulkan physical devices that the Vulkan
 * loader exposes to the process, and Dawn's "CPU" adapter type is Vulkan's PHYSICAL_DEVICE_TYPE_CPU. So:
 * - the loader's drivers (ICD manifests) are read from the places the loader searches, and drivers that are
 *   software renderers (lavapipe/llvmpipe, SwiftShader) are recognised by their library;
 * - unless software is allowed, the process's loader is limited to the other drivers (VK_DRIVER_FILES, and
 *   VK_ICD_FILENAMES for older loaders) before the first WebGPU session, so Dawn cannot even see a software
 *   adapter: a guarantee, not a guess;
 * - the devices' names, vendors and types come from `vulkaninfo --summary` (Debian/Ubuntu: vulkan-tools) run
 *   with the same loader settings, when it is installed. Dawn requests a high-performance adapter, which sorts
 *   discrete GPUs first, then integrated, then the rest, CPU last; the same order picks the device named here.
 * On other platforms (Dawn on D3D12 or Metal) none of this applies and the adapter is reported as unknown.
 */

export interface VulkanDriver {
  /** The manifest (JSON) file. */
  readonly manifest: string;
  /** The driver library it names. */
  readonly library: string;
  /** A software renderer (lavapipe/llvmpipe, SwiftShader). */
  readonly software: boolean;
}

export type DeviceType = 'discrete' | 'integrated' | 'virtual' | 'cpu' | 'other';

export interface VulkanDevice {
  readonly name: string;
  readonly vendor: string;
  readonly type: DeviceType;
  readonly driver: string;
}

export type AdapterChoice =
  | {
      readonly ok: true;
      /** Loader variables to set in this process before WebGPU starts (empty when nothing must be hidden). */
      readonly loaderEnv: Readonly<Record<string, string>>;
      /** The device Dawn will pick, when vulkaninfo could tell. */
      readonly adapter: VulkanDevice | undefined;
      /** For logs: the drivers in use and how the adapter was identified. */
      readonly detail: string;
    }
  | { readonly ok: false; readonly reason: string };

const SOFTWARE_LIBRARY = /lvp|lavapipe|llvmpipe|swiftshader/i;

const VENDORS: Readonly<Record<number, string>> = {
  0x1002: 'AMD',
  0x10de: 'NVIDIA',
  0x8086: 'Intel',
  0x13b5: 'ARM',
  0x5143: 'Qualcomm',
  0x1010: 'Imagination',
  0x106b: 'Apple',
  0x1af4: 'virtio',
  0x1ae0: 'Google',
  0x10004: 'Codeplay',
  0x10005: 'Mesa',
};

/** Decides the WebGPU adapter for this process. Pure apart from reading files and running vulkaninfo. */
export function chooseWebGpuAdapter(options: {
  allowSoftware: boolean;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
}): AdapterChoice {
  const env = options.env ?? process.env;
  if ((options.platform ?? process.platform) !== 'linux') {
    return { ok: true, loaderEnv: {}, adapter: undefined, detail: 'adapter not identifiable on this platform' };
  }
  const drivers = vulkanDrivers(env);
  let loaderEnv: Record<string, string> = {};
  if (!options.allowSoftware) {
    if (drivers.every((d) => d.software)) {
      const found = drivers.length > 0 ? ` (found only ${names(drivers)})` : '';
      return { ok: false, reason: `no hardware Vulkan driver is installed${found}` };
    }
    loaderEnv = hardwareOnly(drivers);
  }
  const devices = vulkanDevices({ ...env, ...loaderEnv });
  const driversText = drivers.map((d) => `${path.basename(d.manifest)}${d.software ? ' (software)' : ''}`).join(', ');
  if (devices === undefined) {
    return {
      ok: true,
      loaderEnv,
      adapter: undefined,
      detail: `Vulkan drivers: ${driversText || 'none found'}; adapter name unknown (vulkaninfo: install vulkan-tools)`,
    };
  }
  const usable = options.allowSoftware ? devices : devices.filter((d) => d.type !== 'cpu');
  const adapter = [...usable].sort((a, b) => TYPE_ORDER.indexOf(a.type) - TYPE_ORDER.indexOf(b.type))[0];
  if (!adapter) {
    const tried = drivers.filter((d) => options.allowSoftware || !d.software);
    const seen =
      devices.length > 0
        ? `vulkaninfo lists only ${devices.map((d) => d.name).join(', ')}`
        : `no driver found a device: ${names(tried)}`;
    return { ok: false, reason: `no ${options.allowSoftware ? '' : 'hardware '}Vulkan device is available (${seen})` };
  }
  return { ok: true, loaderEnv, adapter, detail: `Vulkan drivers: ${driversText}; adapter from vulkaninfo` };
}

/**
 * Loader variables that leave it only the hardware drivers: VK_DRIVER_FILES (loader 1.3.207 and later) and
 * VK_ICD_FILENAMES (older loaders). Empty when there is no software driver to hide.
 */
export function hardwareOnly(drivers: readonly VulkanDriver[]): Record<string, string> {
  const hardware = drivers.filter((d) => !d.software);
  if (hardware.length === drivers.length) return {};
  const files = hardware.map((d) => d.manifest).join(':');
  return { VK_DRIVER_FILES: files, VK_ICD_FILENAMES: files };
}

const names = (drivers: readonly VulkanDriver[]) => drivers.map((d) => path.basename(d.manifest)).join(', ');

/** Dawn's order for a high-performance request. */
const TYPE_ORDER: readonly DeviceType[] = ['discrete', 'integrated', 'virtual', 'other', 'cpu'];

/** The Vulkan loader's drivers on Linux: VK_DRIVER_FILES / VK_ICD_FILENAMES when set, else its search path. */
export function vulkanDrivers(env: NodeJS.ProcessEnv = process.env): VulkanDriver[] {
  const explicit = env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES;
  const manifests = explicit ? explicit.split(':').filter(Boolean) : searchedManifests(env);
  if (env.VK_ADD_DRIVER_FILES) manifests.push(...env.VK_ADD_DRIVER_FILES.split(':').filter(Boolean));
  const drivers: VulkanDriver[] = [];
  for (const manifest of manifests) {
    const library = readManifestLibrary(manifest);
    if (library === undefined) continue;
    drivers.push({ manifest, library, software: SOFTWARE_LIBRARY.test(path.basename(library)) });
  }
  return drivers;
}

function searchedManifests(env: NodeJS.ProcessEnv): string[] {
  const home = env.HOME ?? os.homedir();
  const configDirs = [
    env.XDG_CONFIG_HOME ?? path.join(home, '.config'),
    ...(env.XDG_CONFIG_DIRS ?? '/etc/xdg').split(':'),
    '/etc',
  ];
  const dataDirs = [
    env.XDG_DATA_HOME ?? path.join(home, '.local/share'),
    ...(env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':'),
  ];
  const seen = new Set<string>();
  const manifests: string[] = [];
  for (const dir of [...configDirs, ...dataDirs].filter(Boolean).map((d) => path.join(d, 'vulkan', 'icd.d'))) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir).sort()) {
      // The loader takes the first manifest of a given file name along its search path.
      if (!file.endsWith('.json') || seen.has(file)) continue;
      seen.add(file);
      manifests.push(path.join(dir, file));
    }
  }
  return manifests;
}

/** The library a manifest names; undefined for one the loader would skip (unreadable, no api_version). */
function readManifestLibrary(manifest: string): string | undefined {
  try {
    type Manifest = { ICD?: { library_path?: unknown; api_version?: unknown } };
    const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as Manifest;
    const library = parsed.ICD?.library_path;
    return typeof library === 'string' && typeof parsed.ICD?.api_version === 'string' ? library : undefined;
  } catch {
    return undefined;
  }
}

/** The devices `vulkaninfo --summary` lists under `env`; undefined when vulkaninfo is not installed. */
export function vulkanDevices(env: NodeJS.ProcessEnv): VulkanDevice[] | undefined {
  const result = spawnSync('vulkaninfo', ['--summary'], { env, encoding: 'utf8', timeout: 20_000 });
  if (result.error) return undefined;
  return parseVulkanSummary(result.stdout ?? '');
}

/** Parses the "Devices:" part of `vulkaninfo --summary`. */
export function parseVulkanSummary(text: string): VulkanDevice[] {
  const devices: VulkanDevice[] = [];
  const section = text.split(/^Devices:\s*$/m)[1] ?? '';
  for (const block of section.split(/^GPU\d+:\s*$/m).slice(1)) {
    const field = (key: string) => new RegExp(`^\\s*${key}\\s*=\\s*(.+?)\\s*$`, 'm').exec(block)?.[1];
    const name = field('deviceName');
    if (!name) continue;
    const vendorId = Number.parseInt(field('vendorID') ?? '', 16);
    const type = field('deviceType') ?? '';
    devices.push({
      name,
      vendor: VENDORS[vendorId] ?? (Number.isNaN(vendorId) ? 'unknown vendor' : `vendor 0x${vendorId.toString(16)}`),
      type: /DISCRETE/.test(type)
        ? 'discrete'
        : /INTEGRATED/.test(type)
          ? 'integrated'
          : /VIRTUAL/.test(type)
            ? 'virtual'
            : /CPU/.test(type)
              ? 'cpu'
              : 'other',
      driver: field('driverName') ?? 'unknown driver',
    });
  }
  return devices;
}
