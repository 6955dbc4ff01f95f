import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE, MIGRATIONS, openDatabase, type Db } from '../../src/bot/database.ts';
import { imageKey, KeptInputs } from '../../src/bot/kept-inputs.ts';
import { checkStyleName, GALLERY, GALLERY_DIR, StyleLibrary } from '../../src/bot/style-library.ts';
import type { RgbImage } from '../../src/images/rgb-image.ts';

// The bot's own data against a real SQLite file and real files in a temporary DATA_DIR.

let dir: string;
let db: Db;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stylebot-data-'));
  db = openDatabase(dir);
});
afterEach(async () => {
  if (db.open) db.close();
  await rm(dir, { recursive: true, force: true });
});

const image = (width: number, height: number, fill: number): RgbImage => ({
  width,
  height,
  data: new Uint8Array(width * height * 3).fill(fill),
});

describe('the database', () => {
  it('is created on first open with the folder, and migrated once: user_version counts the steps', () => {
    expect(existsSync(path.join(dir, DATABASE_FILE))).toBe(true);
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    db.close();
    db = openDatabase(dir);
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('runs only the steps a file has not had, in order, and refuses a file from a newer bot', () => {
    db.prepare("INSERT INTO saved_styles (guild_id, name, name_key, png, width, height, added_by, added_at) VALUES ('g', 'A', 'a', x'00', 1, 1, 'u', 0)").run();
    db.close();
    const next = [...MIGRATIONS, 'ALTER TABLE saved_styles ADD COLUMN note TEXT', "UPDATE saved_styles SET note = 'migrated'"];
    db = openDatabase(dir, next);
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length + 2);
    expect(db.prepare('SELECT name, note FROM saved_styles').all()).toEqual([{ name: 'A', note: 'migrated' }]);
    db.close();
    expect(() => openDatabase(dir)).toThrow(/written by a newer version of the bot \(schema 3, this one knows 1\)/);
  });

  it('leaves a failed step undone, so the next start tries it again', () => {
    db.close();
    expect(() => openDatabase(dir, [...MIGRATIONS, 'CREATE TABLE extra (x); INSERT INTO nowhere VALUES (1)'])).toThrow(/no such table: nowhere/);
    db = openDatabase(dir);
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'extra'").get()).toBeUndefined();
  });
});

describe('kept inputs', () => {
  let now = 1_000_000;
  const kept = (maxBytes = 1_000_000, retentionMs = 3_600_000) =>
    new KeptInputs(db, { dir: path.join(dir, 'kept'), retentionMs, maxBytes, logger: pino({ enabled: false }), now: () => now });
  const files = () => readdirSync(path.join(dir, 'kept')).sort();

  it('keeps a recipe with its images and gives them back; the same pixels are stored once', async () => {
    const store = kept();
    const content = image(10, 8, 1);
    const style = image(4, 4, 2);
    await store.keep('AAAAAA', { v: 1, content: imageKey(content) }, [content, style]);
    await store.keep('BBBBBB', { v: 1 }, [image(10, 8, 1), image(6, 6, 3)]);
    expect(store.recipe('AAAAAA')).toEqual({ v: 1, content: imageKey(content) });
    const back = await store.image(imageKey(content));
    expect(back).toMatchObject({ width: 10, height: 8 });
    expect(Buffer.from(back!.data).equals(Buffer.from(content.data))).toBe(true);
    expect(files()).toHaveLength(3);
    expect(store.usage()).toEqual({ jobs: 2, images: 3, bytes: 240 + 48 + 108 });
    expect(await store.image('not-a-key')).toBeUndefined();
    expect(await store.image('../../etc/passwd')).toBeUndefined();
  });

  it('drops a recipe past retention, and an image once no recipe uses it', async () => {
    const store = kept();
    await store.keep('OLD000', {}, [image(4, 4, 1), image(4, 4, 9)]);
    now += 30 * 60_000;
    await store.keep('NEW000', {}, [image(4, 4, 1)]);
    now += 31 * 60_000;
    // Past its hour, the old recipe is gone even before a sweep runs.
    expect(store.recipe('OLD000')).toBeUndefined();
    expect(store.recipe('NEW000')).toEqual({});
    store.sweep();
    expect(store.usage()).toEqual({ jobs: 1, images: 1, bytes: 48 });
    expect(files()).toEqual([`${imageKey(image(4, 4, 1))}.rgb`]);
    expect(await store.image(imageKey(image(4, 4, 9)))).toBeUndefined();
  });

  it('holds the disk cap by dropping the oldest recipes first, never the newest that fits', async () => {
    const store = kept(250);
    for (const [index, id] of ['J1', 'J2', 'J3', 'J4'].entries()) {
      now += 1000;
      await store.keep(id, { index }, [image(6, 6, index)]); // 108 bytes each
    }
    expect(['J1', 'J2', 'J3', 'J4'].map((id) => store.recipe(id) !== undefined)).toEqual([false, false, true, true]);
    expect(store.usage().bytes).toBeLessThanOrEqual(250);
    expect(files()).toHaveLength(2);
    // A job whose images alone exceed the cap is not kept at all.
    await store.keep('BIG', {}, [image(10, 10, 7)]);
    expect(store.recipe('BIG')).toBeUndefined();
  });

  it('survives a restart, reads a removed file as gone, and removes files no row names', async () => {
    const store = kept();
    const picture = image(5, 5, 4);
    await store.keep('KEEP01', { a: 1 }, [picture]);
    writeFileSync(path.join(dir, 'kept', 'stray.rgb.123.tmp'), 'half-written');
    writeFileSync(path.join(dir, 'kept', `${'f'.repeat(64)}.rgb`), 'orphan');
    db.close();
    db = openDatabase(dir);
    const again = kept();
    expect(again.removeStrayFiles()).toBe(2);
    expect(again.recipe('KEEP01')).toEqual({ a: 1 });
    expect((await again.image(imageKey(picture)))?.width).toBe(5);
    rmSync(path.join(dir, 'kept', `${imageKey(picture)}.rgb`));
    expect(await again.image(imageKey(picture))).toBeUndefined();
    again.forget('KEEP01');
    expect(again.usage()).toEqual({ jobs: 0, images: 0, bytes: 0 });
  });
});

describe('the style library', () => {
  const png = { png: new Uint8Array([1, 2, 3]), width: 8, height: 8 };

  it('lists the same six artworks as assets/styles/CREDITS.md, each with its file', () => {
    const credits = readFileSync(path.join(GALLERY_DIR, 'CREDITS.md'), 'utf8');
    for (const style of GALLERY) {
      expect(existsSync(path.join(GALLERY_DIR, `${style.id}.jpg`)), style.id).toBe(true);
      expect(credits).toContain(`| ${style.id}.jpg | ${style.title} | ${style.artist} (`);
      expect(credits).toMatch(new RegExp(`\\| ${style.id}\\.jpg \\|.*\\| ${style.year.replace('.', '\\.')} \\|`));
    }
    expect(readdirSync(GALLERY_DIR).filter((f) => f.endsWith('.jpg'))).toHaveLength(GALLERY.length);
  });

  it('finds styles however they are typed, per server, and holds the cap and unique names', () => {
    const library = new StyleLibrary(db, { maxPerServer: 2 });
    expect(library.find('g1', 'STARRY-night')).toMatchObject({ kind: 'gallery', style: { id: 'starry-night' } });
    expect(library.find('g1', 'the great wave off kanagawa')).toMatchObject({ kind: 'gallery', style: { id: 'great-wave' } });
    expect(library.add('g1', ' Ink Wash ', png, 'u1')).toBe('added');
    expect(library.add('g1', 'ink wash', png, 'u1')).toBe('exists');
    expect(library.add('g1', 'Neon', png, 'u1')).toBe('added');
    expect(library.add('g1', 'Third', png, 'u1')).toBe('full');
    expect(library.add('g2', 'Ink wash', png, 'u2')).toBe('added');
    expect(library.find('g1', 'INK WASH')).toEqual({ kind: 'saved', name: 'Ink Wash' });
    expect(library.find('g3', 'ink wash')).toBeUndefined();
    expect(library.find(undefined, 'ink wash')).toBeUndefined();
    expect(library.suggest('g1', 'wash').map((c) => c.value)).toEqual(['Ink Wash']);
    // Artists count too.
    expect(library.suggest('g1', 'MATISSE').map((c) => c.value)).toEqual(['woman-with-a-hat']);
    expect(library.suggest('g1', '').map((c) => c.value)).toHaveLength(GALLERY.length + 2);
    expect(library.suggest('g1', '', { gallery: false })).toEqual([
      { name: '⭐ Ink Wash (this server)', value: 'Ink Wash' },
      { name: '⭐ Neon (this server)', value: 'Neon' },
    ]);
    expect(library.remove('g1', 'ink WASH')).toBe('Ink Wash');
    expect(library.remove('g1', 'starry-night')).toBeUndefined();
    expect(library.list('g1').map((s) => s.name)).toEqual(['Neon']);
  });

  it.each([
    ['', /1 to 40 letters/],
    ['x'.repeat(41), /1 to 40 letters/],
    ['<@123456789012345678>', /1 to 40 letters/],
    ['@everyone', /1 to 40 letters/],
    ['**bold**', /1 to 40 letters/],
    ['line\nbreak', /1 to 40 letters/],
    ['The Scream', /name of a built-in style/],
    ['great wave', /name of a built-in style/],
    ['Starry Night', /name of a built-in style/],
  ])('refuses the style name %j', (name, expected) => {
    expect(checkStyleName(name)).toMatch(expected);
  });

  it.each(['Ink wash', 'Café 2 (blue)', 'Überblau!', '北斎風'])('accepts the style name %j', (name) => {
    expect(checkStyleName(name)).toBeUndefined();
  });
});

describe('a database written by another process', () => {
  it('sees the other connection’s writes (WAL), as two bot processes on one DATA_DIR would', () => {
    const other = new Database(path.join(dir, DATABASE_FILE));
    const library = new StyleLibrary(db, { maxPerServer: 5 });
    library.add('g', 'Shared', { png: new Uint8Array([1]), width: 1, height: 1 }, 'u');
    expect(other.prepare('SELECT name FROM saved_styles').all()).toEqual([{ name: 'Shared' }]);
    other.close();
  });
});
