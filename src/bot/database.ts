import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/**
 * The bot's SQLite file, `DATA_DIR/stylebot.sqlite`: the servers' saved styles and the index of the images kept
 * for remixing (the pixels themselves are files beside it, see kept-inputs.ts).
 *
 * Migrations: `PRAGMA user_version` holds how many steps of MIGRATIONS the file has had. At start-up the missing
 * steps run in order, each in one transaction together with its user_version bump, so a crash leaves the file at
 * a whole step. A released step is never edited; a schema change is a new step at the end. A file from a newer
 * bot (more steps than this one knows) is refused rather than guessed at.
 */

export type Db = Database.Database;

export const DATABASE_FILE = 'stylebot.sqlite';

export const MIGRATIONS: readonly string[] = [
  // 1: saved styles; kept inputs (images by content hash, each job's recipe, which images each job uses).
  `
  CREATE TABLE saved_styles (
    guild_id TEXT NOT NULL,
    name TEXT NOT NULL,
    -- The name compared case-insensitively (Unicode lower case; SQLite's NOCASE knows only ASCII).
    name_key TEXT NOT NULL,
    png BLOB NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    UNIQUE (guild_id, name_key)
  );
  CREATE TABLE kept_images (
    key TEXT PRIMARY KEY,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes INTEGER NOT NULL
  );
  CREATE TABLE kept_jobs (
    job_id TEXT PRIMARY KEY,
    kept_at INTEGER NOT NULL,
    recipe TEXT NOT NULL
  );
  CREATE INDEX kept_jobs_by_age ON kept_jobs (kept_at);
  CREATE TABLE kept_refs (
    job_id TEXT NOT NULL REFERENCES kept_jobs (job_id) ON DELETE CASCADE,
    key TEXT NOT NULL REFERENCES kept_images (key),
    PRIMARY KEY (job_id, key)
  );
  CREATE INDEX kept_refs_by_key ON kept_refs (key);
  `,
];

/** Opens (creating the folder and the file on first start) and migrates the database. */
export function openDatabase(dataDir: string, migrations: readonly string[] = MIGRATIONS): Db {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, DATABASE_FILE);
  const db = new Database(file);
  try {
    // WAL: readers never wait for the writer, and a second bot process on the same folder is safe.
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, migrations, file);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

function migrate(db: Db, migrations: readonly string[], file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > migrations.length) {
    throw new Error(
      `${file} was written by a newer version of the bot (schema ${version}, this one knows ${migrations.length}); ` +
        'update the bot or point DATA_DIR elsewhere',
    );
  }
  for (let step = version; step < migrations.length; step++) {
    db.transaction(() => {
      db.exec(migrations[step]!);
      db.pragma(`user_version = ${step + 1}`);
    })();
  }
}
