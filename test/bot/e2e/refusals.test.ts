import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InteractionHandle, SlashOptionValue } from '../../fake-discord/index.ts';
import { artwork, bodyOf, jobIdIn, logsFor, photo, startHarness, waitForEdit, type Harness } from './harness.ts';

const EPHEMERAL = 64;
/** A server with lower caps in GUILD_LIMITS than the bot's global ones. */
const SMALL_GUILD = '222222222222222222';
let harness: Harness;
let content: Awaited<ReturnType<Harness['fake']['cdn']['add']>>;
let style: typeof content;

beforeAll(async () => {
  harness = await startHarness({
    MAX_UPLOAD_BYTES: String(512 * 1024),
    GUILD_LIMITS: JSON.stringify({ [SMALL_GUILD]: { maxSize: 256, maxIterations: 50 } }),
  });
  content = await harness.fake.cdn.add(await photo(), { filename: 'photo.jpg' });
  style = await harness.fake.cdn.add(await artwork(), { filename: 'art.png' });
});
afterAll(async () => harness?.close());

/** The interaction's first answer: an immediate ephemeral reply, and nothing public. */
async function ephemeralAnswer(command: InteractionHandle): Promise<string> {
  const response = await command.waitForResponse();
  const json = response.json as { type: number; data?: { content?: string; flags?: number } };
  expect(json.type).toBe(4);
  expect((json.data?.flags ?? 0) & EPHEMERAL).toBe(EPHEMERAL);
  return json.data?.content ?? '';
}

describe('requests refused before anything public happens', () => {
  it.each<[string, () => Record<string, SlashOptionValue>, RegExp]>([
    ['a style_blend that does not match the styles', () => ({ content, style, style_blend: '1,2' }), /style_blend needs 1 non-negative number/],
    ['a style_blend that is not numbers', () => ({ content, style, style2: style, style_blend: 'a,b' }), /style_blend needs 2/],
    ['an attachment from a host that is not allowed', () => ({ content: { ...content, url: 'http://169.254.169.254/latest/meta-data' }, style }), /content attachment is not hosted on Discord/],
    ['an attachment declared larger than the limit', () => ({ content, style: { ...style, size: 600 * 1024 } }), /style attachment is 600 KB; the limit is 512 KB/],
    ['an attachment declared as text', () => ({ content: { ...content, content_type: 'text/plain' }, style }), /content attachment is not an image I accept \(text\/plain\)/],
    ['an image declared bigger than the pixel limit', () => ({ content: { ...content, width: 20000, height: 20000 }, style }), /20000×20000, more than 50 megapixels/],
    ['an empty attachment', () => ({ content: { ...content, size: 0 }, style }), /content attachment is empty/],
  ])('%s', async (_name, options, expected) => {
    await expectRefusedPrivately(options(), expected);
  });

  // The command's choices and ranges follow the global caps; the server's lower ones are checked by the bot.
  it.each<[string, () => Record<string, SlashOptionValue>, RegExp]>([
    ['a size above the server’s cap', () => ({ content, style, size: 512 }), /size must be between 64 and 256 pixels on this server/],
    ['iterations above the server’s cap', () => ({ content, style, iterations: 51 }), /Iterations must be between 1 and 50 on this server/],
  ])('%s (GUILD_LIMITS)', async (_name, options, expected) => {
    await expectRefusedPrivately(options(), expected, SMALL_GUILD);
  });

  async function expectRefusedPrivately(options: Record<string, SlashOptionValue>, expected: RegExp, guildId?: string) {
    const before = harness.fake.cdn.requests().length;
    const command = harness.fake.interactions.slashCommand({ name: 'stylize', options, ...(guildId && { guildId }) });
    expect(await ephemeralAnswer(command)).toMatch(expected);
    // Nothing was downloaded and no public message exists.
    expect(harness.fake.cdn.requests().length).toBe(before);
    expect(command.requests().filter((r) => r.method === 'PATCH')).toEqual([]);
  }
});

describe('uploads refused after the public defer', () => {
  it('an attachment that lies about its size is cut off while downloading', async () => {
    const big = await harness.fake.cdn.add(await photo(), {
      filename: 'small.jpg',
      declaredSize: 20_000,
      fault: { kind: 'oversized', totalBytes: 2 * 1024 * 1024, contentLength: false },
    });
    const command = harness.fake.interactions.slashCommand({ name: 'stylize', options: { content: big, style } });
    expect((await command.waitForResponse()).json).toMatchObject({ type: 5 });
    const edit = await waitForEdit(harness.fake, command, '❌', 20_000);
    expect(bodyOf(edit).content).toMatch(/content image is larger than 512 KB/);
    // The id shown is the one the log line with the detail has.
    const refused = logsFor(harness, jobIdIn(bodyOf(edit).content)).find((l) => l.msg === 'request refused after download');
    expect(refused?.reason).toMatch(/content image is larger than 512 KB/);
  });

  it('a failed download stops the other one at once instead of letting it run to its time-out', async () => {
    const stuck = await harness.fake.cdn.add(await photo(), { filename: 'stuck.jpg', fault: { kind: 'hang' } });
    const gone = await harness.fake.cdn.add(await artwork(), { filename: 'gone.png', fault: { kind: 'status', status: 404 } });
    const command = harness.fake.interactions.slashCommand({ name: 'stylize', options: { content: stuck, style: gone } });
    const edit = await waitForEdit(harness.fake, command, '❌', 20_000);
    expect(bodyOf(edit).content).toMatch(/could not download the style attachment \(HTTP 404\)/);
    const hanging = () => harness.fake.cdn.requests().find((r) => r.fault === 'hang');
    // DOWNLOAD_TIMEOUT_MS is 20 s; a shared abort ends it well within 2 s.
    await harness.fake.waitUntil(() => hanging()?.outcome === 'aborted', 2000, 'the hanging download to be aborted');
  });

  it('a file that is not an image gets the image pipeline’s message', async () => {
    const text = await harness.fake.cdn.add(Buffer.from('hello, I am not a picture\n'), {
      filename: 'notes.png',
      contentType: 'image/png',
    });
    const command = harness.fake.interactions.slashCommand({ name: 'stylize', options: { content, style: text } });
    await command.waitForResponse();
    const edit = await waitForEdit(harness.fake, command, '❌', 20_000);
    expect(bodyOf(edit).content).toMatch(/style file is not an image I can read \(found: text\)/i);
    expect(bodyOf(edit).content).toMatch(/ · job `[0-9A-Z]{6}`$/);
  });

  it('a redirect to another host is refused', async () => {
    const moved = await harness.fake.cdn.add(await photo(), { filename: 'moved.jpg', fault: { kind: 'redirect' } });
    const command = harness.fake.interactions.slashCommand({ name: 'stylize', options: { content: moved, style } });
    await command.waitForResponse();
    const edit = await waitForEdit(harness.fake, command, '❌', 20_000);
    expect(bodyOf(edit).content).toMatch(/content attachment is not hosted on Discord/);
    expect(harness.fake.cdn.requests().some((r) => r.server === 'foreign')).toBe(false);
  });
});
