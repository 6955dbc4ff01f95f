import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { withFileLock } from './file-lock.ts';
import { asCacheError, fsProblem } from './fs-problem.ts';
import { fetchRemoteSource, type RemoteFetchOptions } from './remote-source.ts';
import type { WeightsLogger } from './types.ts';
import { displayUrl } from './display-url.ts';
import { WeightsError } from './weights-error.ts';

const MARKER = 'complete.json';

const markerSchema = z.object({
  urlHash: z.string(),
  entry: z.string(),
  files: z.array(z.object({ path: z.string(), bytes: z.number().int().nonnegative() })),
});

/** The cache folder for one configured URL: readable name plus a hash of the full URL. */
export function remoteCacheDir(cacheDir: string, url: string): string {
  const hash = urlHash(url);
  const name = (new URL(url).pathname.split('/').filter(Boolean).pop() ?? 'weights').replace(/[^\w.-]+/g, '_');
  return path.join(cacheDir, 'remote', `${name.replace(/^\.+/, '').slice(0, 60) || 'weights'}-${hash.slice(0, 16)}`);
}

function urlHash(url: string): string {
  return createHash('sha256').update(url).digest('hex');
}

/**
 * A configured weights URL is downloaded once into the cache folder and reused on later starts. A marker written
 * last (after every file is complete) records what belongs to the copy; without it, or with any file's size off,
 * the folder is discarded and fetched again.
 */
export async function cachedRemoteSource(
  url: string,
  cacheDir: string,
  options: RemoteFetchOptions & { logger: WeightsLogger },
): Promise<{ entry: string; downloaded: boolean }> {
  const dir = remoteCacheDir(cacheDir, url);
  const existing = await readCompleteCopy(dir, url);
  if (existing) return { entry: existing, downloaded: false };
  await mkdir(path.dirname(dir), { recursive: true }).catch((error: unknown) => {
    throw new WeightsError(`Cannot create the weights folder ${cacheDir}: ${fsProblem(error)}`, { cause: error });
  });
  return withFileLock(
    dir,
    async (signal) => {
      const ready = await readCompleteCopy(dir, url);
      if (ready) return { entry: ready, downloaded: false };
      options.logger.info({ url: displayUrl(url), dir }, `Fetching VGG19 weights from ${displayUrl(url)}`);
      try {
        await rm(dir, { recursive: true, force: true }); // whatever an interrupted fetch left
        const fetched = await fetchRemoteSource(url, dir, { ...options, signal });
        const marker = {
          urlHash: urlHash(url),
          entry: path.relative(dir, fetched.entry),
          files: fetched.files,
        };
        await writeFile(path.join(dir, `${MARKER}.part`), JSON.stringify(marker, null, 2));
        await rename(path.join(dir, `${MARKER}.part`), path.join(dir, MARKER));
        return { entry: fetched.entry, downloaded: true };
      } catch (error) {
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
        throw asCacheError(error, dir, signal);
      }
    },
    {
      signal: options.signal,
      onWait: () => options.logger.info({ dir }, `Another process is fetching ${displayUrl(url)}; waiting for it`),
    },
  );
}

/** Forgets the cached copy of `url`, e.g. after it failed to load, so that the next start fetches it again. */
export async function discardRemoteCopy(cacheDir: string, url: string): Promise<void> {
  await rm(path.join(remoteCacheDir(cacheDir, url), MARKER), { force: true }).catch(() => undefined);
}

async function readCompleteCopy(dir: string, url: string): Promise<string | undefined> {
  let marker: z.infer<typeof markerSchema>;
  try {
    marker = markerSchema.parse(JSON.parse(await readFile(path.join(dir, MARKER), 'utf8')));
  } catch {
    return undefined;
  }
  if (marker.urlHash !== urlHash(url)) return undefined;
  for (const file of marker.files) {
    const size = await stat(path.join(dir, file.path)).then(
      (info) => info.size,
      () => -1,
    );
    if (size !== file.bytes) return undefined;
  }
  return path.join(dir, marker.entry);
}
