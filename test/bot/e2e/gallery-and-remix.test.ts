import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InteractionHandle, RecordedRequest, SlashOptionValue, StoredMessage } from '../../fake-discord/index.ts';
import { bodyOf, jobIdIn, logsFor, photo, startHarness, waitForEdit, type Harness } from './harness.ts';

// One bot for the whole file: a preset-only /stylize, then every remix button on its result, autocomplete, and
// a press on a result whose inputs have expired. The jobs are tiny (128 px, a few iterations on the tiny model).

const EPHEMERAL = 64;
let harness: Harness;
let content: Awaited<ReturnType<Harness['fake']['cdn']['add']>>;
/** The preset-only job everything else remixes. */
let source: { command: InteractionHandle; message: StoredMessage; jobId: string; seed: number };

beforeAll(async () => {
  harness = await startHarness({ MAX_SIZE: '256', DEFAULT_SIZE: '128' });
  content = await harness.fake.cdn.add(await photo(), { filename: 'photo.jpg' });
});
afterAll(async () => harness?.close());

const optionsLine = (text: string | undefined) => /⚙️ (.*)/.exec(text ?? '')?.[1] ?? '';
const seedOf = (text: string | undefined) => Number(/seed:(\d+)/.exec(text ?? '')?.[1]);

/** The interaction's immediate private answer. */
async function privateAnswer(handle: InteractionHandle): Promise<string> {
  const response = await handle.waitForResponse();
  const json = response.json as { type: number; data?: { content?: string; flags?: number } };
  expect(json.type).toBe(4);
  expect((json.data?.flags ?? 0) & EPHEMERAL).toBe(EPHEMERAL);
  return json.data?.content ?? '';
}

describe('the built-in gallery', () => {
  it('a preset-only /stylize completes, naming the artwork and artist, with its options, seed and remix buttons', async () => {
    const { fake } = harness;
    const command = fake.interactions.slashCommand({
      name: 'stylize',
      options: { content, preset: 'starry-night', size: 128, iterations: 4 },
    });
    expect((await command.waitForResponse()).json).toMatchObject({ type: 5 });
    const final = await waitForEdit(fake, command, '✅');
    const text = bodyOf(final).content!;
    const jobId = jobIdIn(text);
    expect(text).toContain('🖼️ The Starry Night by Vincent van Gogh (1889)');
    expect(optionsLine(text)).toMatch(
      /^preset:starry-night size:128 strength:50 iterations:4 content_weight:1 style_weight:11 tv_weight:0 seed:\d+$/,
    );
    const meta = await sharp(final.files[0]!.bytes).metadata();
    expect(Math.max(meta.width, meta.height)).toBe(128);
    const buttons = (bodyOf(final).components as { components: { custom_id: string; label: string; disabled: boolean }[] }[])[0]!.components;
    expect(buttons.map((b) => [b.custom_id, b.label, b.disabled])).toEqual([
      [`remix:again:${jobId}`, 'Again', false],
      [`remix:stronger:${jobId}`, 'Stronger', false],
      [`remix:softer:${jobId}`, 'Softer', false],
      [`remix:colors:${jobId}`, 'Keep colours', false],
      [`remix:bigger:${jobId}`, 'Bigger (256 px)', false],
    ]);
    source = { command, message: command.originalMessage()!, jobId, seed: seedOf(text) };
  });

  it.each<[string, () => Record<string, SlashOptionValue>, RegExp]>([
    ['neither a style nor a preset', () => ({ content }), /Please choose a style: upload an artwork as `style`, or pick one from `preset`/],
    ['both a style and a preset', () => ({ content, style: content, preset: 'udnie' }), /either `style` \(an upload\) or `preset`, not both/],
    ['a preset that does not exist', () => ({ content, preset: 'mona lisa' }), /There is no style called “mona lisa”/],
  ])('refuses %s privately, before any download', async (_name, makeOptions, expected) => {
    const { fake } = harness;
    const options = makeOptions();
    const before = fake.cdn.requests().length;
    expect(await privateAnswer(fake.interactions.slashCommand({ name: 'stylize', options }))).toMatch(expected);
    expect(fake.cdn.requests().length).toBe(before);
  });

  it('autocomplete offers gallery and saved styles filtered by what was typed, at most 25', async () => {
    const { fake, bot } = harness;
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#a33' } }).png().toBuffer();
    for (let i = 1; i <= 22; i++) {
      bot.context.styles.add(fake.guild.id, `Stars ${String(i).padStart(2, '0')}`, { png, width: 64, height: 64 }, fake.user.id);
    }
    bot.context.styles.add(fake.guild.id, 'Ink wash', { png, width: 64, height: 64 }, fake.user.id);
    const ask = async (typed: string, name = 'stylize', focused = 'preset') => {
      const handle = fake.interactions.autocomplete({ name, focused, typed, ...(name === 'styles' && { subcommand: 'remove' }) });
      expect((await handle.waitForResponse()).json).toMatchObject({ type: 8 });
      return handle.choices!;
    };

    const all = await ask('');
    expect(all).toHaveLength(25);
    expect(all.slice(0, 6).map((c) => c.value)).toEqual([
      'starry-night',
      'the-scream',
      'great-wave',
      'shipwreck-of-the-minotaur',
      'woman-with-a-hat',
      'udnie',
    ]);
    expect(all[0]!.name).toBe('🖼️ The Starry Night — Vincent van Gogh');
    expect(all[6]).toEqual({ name: '⭐ Ink wash (this server)', value: 'Ink wash' });

    const star = await ask('STAR');
    expect(star.map((c) => c.value)).toEqual(['starry-night', ...Array.from({ length: 22 }, (_, i) => `Stars ${String(i + 1).padStart(2, '0')}`)]);
    expect((await ask('gogh')).map((c) => c.value)).toEqual(['starry-night']);
    expect(await ask('zzz')).toEqual([]);
    // /styles remove suggests the server's own styles only.
    expect((await ask('in', 'styles', 'name')).map((c) => c.value)).toEqual(['Ink wash']);
    // Another server sees the gallery only.
    const elsewhere = fake.interactions.autocomplete({ name: 'stylize', focused: 'preset', typed: 's', guildId: '333333333333333333' });
    await elsewhere.waitForResponse();
    expect(elsewhere.choices!.every((c) => !c.name.startsWith('⭐'))).toBe(true);
  });
});

/** The edit that puts a result on the interaction's message (its first line is a heading, so ✅ is not first). */
function finished(handle: InteractionHandle): Promise<RecordedRequest> {
  return harness.fake.waitFor(
    (r) => r.interactionId === handle.id && r.method === 'PATCH' && r.status < 300 && (bodyOf(r).content ?? '').includes('\n✅ Done'),
    60_000,
  );
}

describe('remix buttons', () => {
  /** Presses a remix button on the source result as `username`; resolves with the finished remix. */
  async function press(action: string, username: string, message = source.message) {
    const { fake } = harness;
    const handle = fake.interactions.button({ customId: `remix:${action}:${jobIdIn(message.data.content)}`, message, user: { username } });
    expect((await handle.waitForResponse()).json).toMatchObject({ type: 5 });
    const final = await finished(handle);
    return { handle, final, text: bodyOf(final).content! };
  }

  it('each button queues the job it says, for the presser, as a new public message linking to the result', async () => {
    const { fake } = harness;
    const [again, stronger, softer, colors, bigger] = await Promise.all([
      press('again', 'ann'),
      press('stronger', 'ben'),
      press('softer', 'cat'),
      press('colors', 'dan'),
      press('bigger', 'eve'),
    ]);
    const base = optionsLine(source.message.data.content);
    const link = `https://discord.com/channels/${fake.guild.id}/${fake.channel.id}/${source.message.id}`;
    const expectRemix = (
      remix: { handle: InteractionHandle; final: RecordedRequest; text: string },
      heading: string,
      user: string,
      options: string,
    ) => {
      const userId = (remix.handle.payload as { member: { user: { id: string } } }).member.user.id;
      expect(remix.text.split('\n')[0]).toBe(`${heading} · remix of ${link} for <@${userId}>`);
      expect(remix.text).toContain('🖼️ The Starry Night by Vincent van Gogh (1889)');
      expect(optionsLine(remix.text), user).toBe(options);
      // A new message, public, a reply to the result it came from; the job is the presser's.
      const message = remix.handle.originalMessage()!;
      expect(message.id).not.toBe(source.message.id);
      expect(message.ephemeral).toBe(false);
      expect(message.data.message_reference?.message_id).toBe(source.message.id);
      expect(logsFor(harness, jobIdIn(remix.text)).find((l) => l.msg === 'job submitted')).toMatchObject({ userId });
    };
    const seed = seedOf(base);
    expect(seedOf(again.text)).not.toBe(seed);
    expectRemix(again, '🎲 Again', 'ann', base.replace(`seed:${seed}`, `noise:0.3 seed:${seedOf(again.text)}`));
    expectRemix(stronger, '➕ Stronger', 'ben', base.replace('strength:50', 'strength:60'));
    expectRemix(softer, '➖ Softer', 'cat', base.replace('strength:50', 'strength:40'));
    expectRemix(colors, '🎨 Colours', 'dan', base.replace(' seed:', ' preserve_colors:true seed:'));
    expectRemix(bigger, '⬆️ Bigger', 'eve', base.replace('size:128', 'size:256'));
    const big = await sharp(bigger.final.files[0]!.bytes).metadata();
    expect(Math.max(big.width, big.height)).toBe(256);
    // At the server's cap (MAX_SIZE 256) there is no bigger: the button is disabled.
    const buttonsOf = (edit: RecordedRequest) =>
      (bodyOf(edit).components as { components: { custom_id: string; label: string; disabled: boolean }[] }[])[0]!.components;
    expect(buttonsOf(bigger.final).find((b) => b.custom_id.startsWith('remix:bigger:'))).toMatchObject({ label: 'Bigger', disabled: true });
    // Keep colours toggles: the remix's button offers the style's colours back.
    expect(buttonsOf(colors.final).find((b) => b.custom_id.startsWith('remix:colors:'))?.label).toBe('Style’s colours');

    // A remix of a remix starts from the same kept images: stronger again steps again.
    const twice = await press('stronger', 'ben', stronger.handle.originalMessage());
    expect(optionsLine(twice.text)).toBe(base.replace('strength:50', 'strength:70'));
  });

  it('a press counts against the presser’s own limits, privately refused at the limit', async () => {
    const { fake } = harness;
    const first = fake.interactions.button({ customId: `remix:again:${source.jobId}`, message: source.message, user: { username: 'fay' } });
    await first.waitForResponse();
    const second = fake.interactions.button({ customId: `remix:softer:${source.jobId}`, message: source.message, user: { username: 'fay' } });
    expect(await privateAnswer(second)).toMatch(/You already have a job in the queue/);
    await finished(first);
  });

  it('a press on a result whose inputs have expired is told privately to run /stylize again', async () => {
    const { fake, dataDir } = harness;
    // A day and an hour pass for this result (the clock of the store is the database's kept_at).
    const db = new Database(path.join(dataDir, 'stylebot.sqlite'));
    db.prepare('UPDATE kept_jobs SET kept_at = kept_at - ? WHERE job_id = ?').run(25 * 3_600_000, source.jobId);
    db.close();
    const before = fake.requestsTo('POST', '/interactions/:id/:token/callback').length;
    const handle = fake.interactions.button({ customId: `remix:bigger:${source.jobId}`, message: source.message, user: { username: 'gus' } });
    expect(await privateAnswer(handle)).toBe(
      'The images of that result are no longer kept (they are kept for up to 24 hours). Please run /stylize again.',
    );
    expect(fake.requestsTo('POST', '/interactions/:id/:token/callback').length).toBe(before + 1);
    expect(handle.requests().filter((r) => r.method === 'PATCH')).toEqual([]);
    expect(fake.internalErrors).toEqual([]);
  });
});
