import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RgbImage } from '../images/rgb-image.ts';
import type { Logger } from '../log/logger.ts';
import type { Db } from './database.ts';

/**
 * The decoded inputs of finished jobs, kept so that their results can be remixed without uploading again.
 *
 * Images are stored once by content (a SHA-256 of their size and pixels) as raw RGB files in `DATA_DIR/kept/`,
 * so a remix of a remix, or a hundred jobs with the same built-in artwork, share one file. Each job's recipe is
 * JSON in SQLite with the keys of the images it uses. A job is dropped `retentionMs` after it was kept, or
 * earlier, oldest first, when the files would take more than `maxBytes`; an image no job uses any more is deleted.
 */

export interface KeptInputsOptions {
  /** Where the image files go (created if missing). */
  dir: string;
  retentionMs: number;
  maxBytes: number;
  logger: Logger;
  now?: () => number;
}

const EXTENSION = '.rgb';

/** The key an image is stored under: the same pixels at the same size always get the same key. */
export function imageKey(image: RgbImage): string {
  const hash = createHash('sha256');
  hash.update(`${image.width}x${image.height}:`);
  hash.update(image.data);
  return hash.digest('hex');
}

export class KeptInputs {
  readonly #db: Db;
  readonly #dir: string;
  readonly #options: KeptInputsOptions;
  readonly #now: () => number;

  constructor(db: Db, options: KeptInputsOptions) {
    this.#db = db;
    this.#dir = options.dir;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    mkdirSync(this.#dir, { recursive: true });
  }

  /**
   * Keeps `recipe` (plain JSON) for `jobId` with the images it names by key. Writes the image files it does not
   * have yet, then drops whatever retention and the disk cap say must go (possibly this very job, when its images
   * alone exceed the cap).
   */
  async keep(jobId: string, recipe: unknown, images: readonly RgbImage[]): Promise<void> {
    const entries = new Map(images.map((image) => [imageKey(image), image]));
    for (const [key, image] of entries) {
      if (!this.#hasFile(key)) await this.#writeAtomically(key, image.data);
    }
    const insertImage = this.#db.prepare('INSERT OR IGNORE INTO kept_images (key, width, height, bytes) VALUES (?, ?, ?, ?)');
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM kept_jobs WHERE job_id = ?').run(jobId);
      this.#db.prepare('INSERT INTO kept_jobs (job_id, kept_at, recipe) VALUES (?, ?, ?)').run(jobId, this.#now(), JSON.stringify(recipe));
      for (const [key, image] of entries) {
        // A sweep between the write above and this transaction may have deleted a shared file; write it again.
        if (!this.#hasFile(key)) writeFileSync(this.#file(key), image.data);
        insertImage.run(key, image.width, image.height, image.data.byteLength);
        this.#db.prepare('INSERT INTO kept_refs (job_id, key) VALUES (?, ?)').run(jobId, key);
      }
    })();
    this.sweep();
  }

  /** The recipe kept for `jobId`, or undefined when there is none or it is past retention. */
  recipe(jobId: string): unknown {
    const row = this.#db.prepare('SELECT kept_at, recipe FROM kept_jobs WHERE job_id = ?').get(jobId) as
      | { kept_at: number; recipe: string }
      | undefined;
    if (!row || row.kept_at <= this.#now() - this.#options.retentionMs) return undefined;
    return JSON.parse(row.recipe) as unknown;
  }

  /** A kept image, or undefined when it is gone (evicted, or its file was removed by hand). */
  async image(key: string): Promise<RgbImage | undefined> {
    if (!/^[0-9a-f]{64}$/.test(key)) return undefined;
    const row = this.#db.prepare('SELECT width, height FROM kept_images WHERE key = ?').get(key) as
      | { width: number; height: number }
      | undefined;
    if (!row) return undefined;
    let data: Buffer;
    try {
      data = await readFile(this.#file(key));
    } catch {
      return undefined;
    }
    if (data.byteLength !== row.width * row.height * 3) return undefined;
    return { width: row.width, height: row.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }

  /** Drops one job's recipe (its request never reached the queue); its images go when no other job uses them. */
  forget(jobId: string): void {
    this.#db.prepare('DELETE FROM kept_jobs WHERE job_id = ?').run(jobId);
    this.sweep();
  }

  /** Applies retention and the disk cap (oldest jobs first), then deletes images that no job uses. */
  sweep(): { jobs: number; images: number; bytes: number } {
    const db = this.#db;
    const orphans = db.transaction(() => {
      db.prepare('DELETE FROM kept_jobs WHERE kept_at <= ?').run(this.#now() - this.#options.retentionMs);
      const used = db.prepare(
        'SELECT COALESCE(SUM(bytes), 0) AS total FROM kept_images WHERE key IN (SELECT key FROM kept_refs)',
      );
      const oldest = db.prepare('SELECT job_id FROM kept_jobs ORDER BY kept_at, rowid LIMIT 1');
      while ((used.get() as { total: number }).total > this.#options.maxBytes) {
        const row = oldest.get() as { job_id: string } | undefined;
        if (!row) break;
        db.prepare('DELETE FROM kept_jobs WHERE job_id = ?').run(row.job_id);
      }
      const unused = db.prepare('SELECT key FROM kept_images WHERE key NOT IN (SELECT key FROM kept_refs)').all() as {
        key: string;
      }[];
      db.prepare('DELETE FROM kept_images WHERE key NOT IN (SELECT key FROM kept_refs)').run();
      return unused.map((row) => row.key);
    })();
    for (const key of orphans) this.#remove(key);
    return this.usage();
  }

  /** Removes files that no row names (left by a crash between writing a file and recording it). */
  removeStrayFiles(): number {
    const known = new Set((this.#db.prepare('SELECT key FROM kept_images').all() as { key: string }[]).map((r) => r.key));
    let removed = 0;
    for (const name of readdirSync(this.#dir)) {
      const key = name.endsWith(EXTENSION) ? name.slice(0, -EXTENSION.length) : undefined;
      if (key !== undefined && known.has(key)) continue;
      rmSync(path.join(this.#dir, name), { force: true, recursive: true });
      removed++;
    }
    return removed;
  }

  usage(): { jobs: number; images: number; bytes: number } {
    const jobs = (this.#db.prepare('SELECT COUNT(*) AS n FROM kept_jobs').get() as { n: number }).n;
    const images = this.#db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS bytes FROM kept_images').get() as {
      n: number;
      bytes: number;
    };
    return { jobs, images: images.n, bytes: images.bytes };
  }

  #file(key: string): string {
    return path.join(this.#dir, `${key}${EXTENSION}`);
  }

  #hasFile(key: string): boolean {
    return existsSync(this.#file(key));
  }

  async #writeAtomically(key: string, data: Uint8Array): Promise<void> {
    const temporary = `${this.#file(key)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(temporary, data);
    await rename(temporary, this.#file(key));
  }

  #remove(key: string): void {
    // Synchronous, so that a keep() that runs next can never see the row gone but the file still there, or the reverse.
    try {
      rmSync(this.#file(key), { force: true });
    } catch (error) {
      this.#options.logger.warn({ err: error, key }, 'could not delete a kept image');
    }
  }
}
