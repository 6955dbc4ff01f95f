import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { displayUrl } from './display-url.ts';
import type { ProgressSink } from './download-progress.ts';
import { readHead } from './file-head.ts';
import { withFileLock } from './file-lock.ts';
import { asCacheError, fsProblem } from './fs-problem.ts';
import { downloadToFile } from './http-download.ts';
import { describeWrongFormat, SNIFF_BYTES, sniffFormat } from './sniff-format.ts';
import type { WeightsLogger } from './types.ts';
import { WeightsError } from './weights-error.ts';

/** A file known in advance by URL, size and checksum. */
export interface DownloadSpec {
  url: string;
  md5: string;
  bytes: number;
  /** Its name in the cache folder. */
  fileName: string;
}

/**
 * The Keras VGG19 "notop" weights (the sixteen convolution layers, ImageNet-trained; Oxford VGG, CC BY 4.0),
 * as published with keras-applications.
 */
export const DEFAULT_VGG19_WEIGHTS: DownloadSpec = {
  url: 'https://storage.googleapis.com/tensorflow/keras-applications/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5',
  md5: '253f8cb515780f3b799900260a226db6',
  bytes: 80_134_624,
  fileName: 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5',
};

export interface VerifiedDownloadOptions {
  timeoutMs: number;
  logger: WeightsLogger;
  progress: (label: string) => ProgressSink;
  signal?: AbortSignal;
}

export interface VerifiedFile {
  file: string;
  /** True if this call downloaded it, false if a verified copy was already there. */
  downloaded: boolean;
}

export async function md5OfFile(file: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

type CheckResult = 'ok' | 'absent' | { problem: string };

/**
 * Whether the cached file is there and right. A file that is there but cannot be read (permissions, a folder in
 * its place) is a WeightsError naming it: replacing what someone else put there is not this code's call.
 */
async function checkFile(file: string, spec: DownloadSpec): Promise<CheckResult> {
  const unreadable = (error: unknown) =>
    new WeightsError(`Cannot read the cached weights ${file}: ${fsProblem(error)}`, { cause: error });
  let info: Stats;
  try {
    info = await stat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'absent';
    throw unreadable(error);
  }
  if (!info.isFile()) {
    throw new WeightsError(`${file} is ${info.isDirectory() ? 'a folder' : 'not a regular file'}, not the weights file`);
  }
  if (info.size !== spec.bytes) {
    const { size } = info;
    return { problem: `it is ${size.toLocaleString('en-US')} bytes, expected ${spec.bytes.toLocaleString('en-US')}` };
  }
  const md5 = await md5OfFile(file).catch((error: unknown) => {
    throw unreadable(error);
  });
  return md5 === spec.md5 ? 'ok' : { problem: `its MD5 is ${md5}, expected ${spec.md5}` };
}

/**
 * Makes sure `cacheDir/<fileName>` holds exactly the file of `spec` (size and MD5 checked on every call) and
 * returns its path. When it is absent or wrong, downloads it under a lock shared by every process using the
 * folder: `<fileName>.part` is written while hashing, checked, then renamed into place, so the final name only
 * ever holds a verified file. Leftover `.part` files from interrupted runs are discarded; a process that finds a
 * download in progress waits for it and uses its result.
 */
export async function ensureVerifiedDownload(
  spec: DownloadSpec,
  cacheDir: string,
  options: VerifiedDownloadOptions,
): Promise<VerifiedFile> {
  const file = path.join(cacheDir, spec.fileName);
  if ((await checkFile(file, spec)) === 'ok') return { file, downloaded: false };

  await mkdir(cacheDir, { recursive: true }).catch((error: unknown) => {
    throw new WeightsError(`Cannot create the weights folder ${cacheDir}: ${fsProblem(error)}`, { cause: error });
  });
  return withFileLock(
    file,
    (signal) =>
      downloadLocked(spec, file, options, signal).catch((error: unknown) => {
        throw asCacheError(error, file, signal);
      }),
    {
      signal: options.signal,
      onWait: () =>
        options.logger.info(
          { file },
          `Another process is downloading ${spec.fileName} into ${cacheDir}; waiting for it`,
        ),
    },
  );
}

async function downloadLocked(
  spec: DownloadSpec,
  file: string,
  options: VerifiedDownloadOptions,
  signal: AbortSignal,
): Promise<VerifiedFile> {
  // Checked again under the lock: another process may just have finished, or left a bad file behind.
  const check = await checkFile(file, spec);
  if (check === 'ok') return { file, downloaded: false };
  if (check !== 'absent') {
    options.logger.warn({ file, problem: check.problem }, `Discarding the cached weights ${file}: ${check.problem}`);
    await rm(file, { force: true });
  }
  const part = `${file}.part`;
  await rm(part, { force: true }); // an interrupted download restarts from the beginning
  const result = await downloadToFile(spec.url, part, {
    timeoutMs: options.timeoutMs,
    signal,
    progress: options.progress(spec.fileName),
    maxBytes: spec.bytes * 2,
  });
  if (result.bytes !== spec.bytes || result.md5 !== spec.md5) {
    const problem = await describeMismatch(part, spec, result);
    await rm(part, { force: true });
    throw new WeightsError(problem);
  }
  await rename(part, file);
  options.logger.info({ file, bytes: result.bytes, md5: result.md5 }, `Saved verified VGG19 weights to ${file}`);
  return { file, downloaded: true };
}

async function describeMismatch(
  part: string,
  spec: DownloadSpec,
  got: { bytes: number; md5: string },
): Promise<string> {
  const shown = displayUrl(spec.url);
  const format = sniffFormat(await readHead(part, SNIFF_BYTES));
  if (format === 'html') return `${shown} returned ${describeWrongFormat('html')}`;
  if (got.bytes !== spec.bytes) {
    return `${shown} sent ${got.bytes.toLocaleString('en-US')} bytes, expected ${spec.bytes.toLocaleString('en-US')}; the download was discarded`;
  }
  return `${shown} failed its checksum (MD5 ${got.md5}, expected ${spec.md5}); the download was discarded`;
}
