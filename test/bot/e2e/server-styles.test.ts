import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MEMBER_PERMISSIONS,
  Permission,
  startFakeDiscord,
  type FakeDiscord,
  type InteractionHandle,
  type RecordedRequest,
  type StoredMessage,
} from '../../fake-discord/index.ts';
import { artwork, bodyOf, jobIdIn, photo, startHarness, type Harness } from './harness.ts';

// /styles and "Stylize this image" against one fake Discord, with a bot restart in the middle: the saved styles
// and the kept inputs live in DATA_DIR, which outlives the bot process.

const EPHEMERAL = 64;
const ADMIN = { permissions: Permission.ManageGuild | MEMBER_PERMISSIONS };
let fake: FakeDiscord;
let harness: Harness;
let dataDir: string;
let curators: { id: string };
let art: Awaited<ReturnType<FakeDiscord['cdn']['add']>>;

const env = () => ({ DATA_DIR: dataDir, MAX_STYLES_PER_SERVER: '2', STYLE_MANAGER_ROLE: 'Curators', DEFAULT_SIZE: '128', DEFAULT_ITERATIONS: '3' });

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'stylebot-data-'));
  fake = await startFakeDiscord();
  curators = fake.addRole('Curators');
  harness = await startHarness(env(), { fake });
  art = await fake.cdn.add(await artwork(), { filename: 'swirls.png' });
});
afterAll(async () => {
  await harness?.close();
  await fake?.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** The private answer of a command: immediate (4) or deferred (5, then the edit). */
async function privateAnswer(handle: InteractionHandle): Promise<string> {
  const response = await handle.waitForResponse();
  const json = response.json as { type: number; data?: { content?: string; flags?: number } };
  expect((json.data?.flags ?? 0) & EPHEMERAL).toBe(EPHEMERAL);
  if (json.type === 4) return json.data?.content ?? '';
  expect(json.type).toBe(5);
  const message = await handle.waitForOriginal((m) => m.content !== '', 30_000);
  return message.data.content;
}

const styles = (subcommand: string, options: Record<string, never> | Record<string, unknown> = {}, member?: object) =>
  fake.interactions.slashCommand({ name: 'styles', subcommand, options: options as never, ...(member && { member }) });

/** The edit that puts a result on a message (the job's own, or one posted through the channel). */
function resultEdit(predicate: (r: RecordedRequest) => boolean): Promise<RecordedRequest> {
  return fake.waitFor((r) => predicate(r) && r.method === 'PATCH' && r.status < 300 && (bodyOf(r).content ?? '').includes('✅ Done'), 60_000);
}

describe('/styles', () => {
  it('adds, lists and removes with Manage Server or the manager role; refuses others, the cap and a hostile image', async () => {
    const before = fake.cdn.requests().length;
    expect(await privateAnswer(styles('add', { name: 'Swirls', image: art }))).toBe(
      'Only members with the Manage Server permission or the Curators role can add saved styles.',
    );
    expect(fake.cdn.requests().length).toBe(before);

    expect(await privateAnswer(styles('add', { name: 'Swirls', image: art }, ADMIN))).toBe(
      'Saved “Swirls” (128×128). Pick it in /stylize preset, or with “Stylize this image”.',
    );
    expect(await privateAnswer(styles('add', { name: 'swirls', image: art }, ADMIN))).toMatch(/A style called “swirls” already exists here/);
    expect(await privateAnswer(styles('add', { name: 'Starry Night', image: art }, ADMIN))).toMatch(/is the name of a built-in style/);
    expect(await privateAnswer(styles('add', { name: '<@everyone>', image: art }, ADMIN))).toMatch(/A style name is 1 to 40 letters/);

    // Hostile images go through the same pipeline as uploads: a web page named .png, a foreign host, a lie about the size.
    const page = await fake.cdn.add(Buffer.from('<!DOCTYPE html><html><body>hi</body></html>'), { filename: 'x.png', contentType: 'image/png', width: 64, height: 64 });
    expect(await privateAnswer(styles('add', { name: 'Page', image: page }, ADMIN))).toMatch(/HTML/i);
    const foreign = { ...art, url: 'http://169.254.169.254/latest/meta-data' };
    expect(await privateAnswer(styles('add', { name: 'Foreign', image: foreign }, ADMIN))).toMatch(/not hosted on Discord/);
    const huge = { ...art, width: 30000, height: 30000 };
    expect(await privateAnswer(styles('add', { name: 'Huge', image: huge }, ADMIN))).toMatch(/more than 50 megapixels/);

    // The role in STYLE_MANAGER_ROLE may add too; the server's cap (MAX_STYLES_PER_SERVER=2) holds.
    const big = await fake.cdn.add(await photo(1600, 1200), { filename: 'big.jpg' });
    expect(await privateAnswer(styles('add', { name: 'Big one', image: big }, { roles: [curators.id] }))).toBe(
      'Saved “Big one” (1024×768). Pick it in /stylize preset, or with “Stylize this image”.',
    );
    expect(await privateAnswer(styles('add', { name: 'Third', image: art }, ADMIN))).toBe(
      'This server already has 2 saved styles, its limit. Remove one with /styles remove first.',
    );

    const list = await privateAnswer(styles('list'));
    expect(list).toMatch(/^\*\*Styles saved on this server\*\* \(2 of 2\):\n• \*\*Big one\*\* · 1024×768 · added by <@\d+>\n• \*\*Swirls\*\* · 128×128/);
    expect(list).toContain('Built in: The Starry Night, The Scream');

    expect(await privateAnswer(styles('remove', { name: 'Big one' }))).toMatch(/^Only members with the Manage Server permission/);
    expect(await privateAnswer(styles('remove', { name: 'BIG ONE' }, ADMIN))).toBe('Removed the style “Big one”.');
    expect(await privateAnswer(styles('remove', { name: 'Big one' }, ADMIN))).toMatch(/has no saved style called “Big one”/);
    expect(fake.internalErrors).toEqual([]);
  });

  it('a saved style works as a preset, and both it and the remix inputs survive a bot restart', async () => {
    const command = fake.interactions.slashCommand({ name: 'stylize', options: { content: await photoAttachment(), preset: 'swirls' } });
    const final = await resultEdit((r) => r.interactionId === command.id);
    expect(bodyOf(final).content).toContain('🖼️ “Swirls” (saved on this server)');
    expect(bodyOf(final).content).toMatch(/⚙️ preset:Swirls size:128 strength:50 iterations:3 /);
    const result = command.originalMessage()!;

    await harness.close();
    harness = await startHarness(env(), { fake });

    expect(await privateAnswer(styles('list'))).toMatch(/\(1 of 2\):\n• \*\*Swirls\*\* · 128×128/);
    const press = fake.interactions.button({ customId: `remix:stronger:${jobIdIn(result.data.content)}`, message: result, user: { username: 'ann' } });
    const remix = await resultEdit((r) => r.interactionId === press.id);
    expect(bodyOf(remix).content).toMatch(/⚙️ preset:Swirls size:128 strength:60 iterations:3 content_weight:1 style_weight:11 /);
  });
});

async function photoAttachment() {
  return fake.cdn.add(await photo(), { filename: 'photo.jpg' });
}

describe('“Stylize this image”', () => {
  /** A member's message with an image, and the private menu the message command answers with. */
  async function openMenu(message: StoredMessage, username = 'ann') {
    const command = fake.interactions.messageCommand({ name: 'Stylize this image', target: message, user: { username } });
    const response = await command.waitForResponse();
    return { command, response: response.json as { type: number; data: { content: string; flags: number; components?: unknown[] } } };
  }

  it('on a message with an image: a private menu of styles, then the job as a reply to that message', async () => {
    const image = await fake.cdn.add(await photo(200, 150), { filename: 'holiday.jpg', ephemeral: false });
    const posted = fake.postMessage({ user: { username: 'ann' }, content: 'my holiday', attachments: [image] });
    const { command, response } = await openMenu(posted);
    expect(response.type).toBe(4);
    expect(response.data.flags & EPHEMERAL).toBe(EPHEMERAL);
    const menu = command.originalMessage()!;
    const select = (menu.data.components as { components: { custom_id: string; options: { label: string; value: string }[] }[] }[])[0]!.components[0]!;
    expect(select.options.map((o) => o.value)).toEqual([
      'starry-night',
      'the-scream',
      'great-wave',
      'shipwreck-of-the-minotaur',
      'woman-with-a-hat',
      'udnie',
      'Swirls',
    ]);

    const pick = fake.interactions.select({ customId: select.custom_id, message: menu, values: ['udnie'], user: { username: 'ann' } });
    expect((await pick.waitForResponse()).json).toMatchObject({ type: 6 });
    const reply = await fake.messages.waitFor((m) => m.data.message_reference?.message_id === posted.id, 10_000);
    expect(reply.data.type).toBe(19);
    expect(reply.ephemeral).toBe(false);
    const final = await resultEdit((r) => r.route === '/channels/:channel/messages/:message' && r.path.endsWith(`/${reply.id}`));
    const text = bodyOf(final).content!;
    expect(text.split('\n')[0]).toMatch(/^🖼️ This image in a new style, for <@\d+>$/);
    expect(text).toContain('🖼️ Udnie (Young American Girl, The Dance) by Francis Picabia (1913)');
    expect(text).toMatch(/⚙️ preset:udnie size:128 strength:50 iterations:3 /);
    expect(final.files).toHaveLength(1);
    // The private menu now points to the reply and has no menu left; the menu cannot be used twice.
    expect(menu.data.content).toBe(`Your image is on its way: https://discord.com/channels/${fake.guild.id}/${fake.channel.id}/${reply.id}`);
    expect(menu.data.components).toEqual([]);
    // The result is remixable like any other.
    expect(JSON.stringify(bodyOf(final).components)).toContain(`remix:again:${jobIdIn(text)}`);
  });

  it('on a message without an image, or with one from a host that is not allowed: one private line, nothing fetched', async () => {
    const before = fake.cdn.requests().length;
    const plain = fake.postMessage({ user: { username: 'ben' }, content: 'no pictures here' });
    const none = await openMenu(plain, 'ben');
    expect(none.response.data).toMatchObject({ content: 'That message has no image I can stylize. Try it on a message with an image.', flags: EPHEMERAL });
    expect(none.response.data.components ?? []).toEqual([]);

    const linked = fake.postMessage({
      user: { username: 'ben' },
      embeds: [{ type: 'image' as never, url: 'https://example.com/cat.png', thumbnail: { url: 'https://example.com/cat.png', width: 400, height: 300 } }],
    });
    const foreignEmbed = await openMenu(linked, 'ben');
    expect(foreignEmbed.response.data.content).toBe('That image is not hosted on Discord, so I will not fetch it. Upload the file itself.');

    const elsewhere = await fake.cdn.add(await photo(), { filename: 'x.jpg', ephemeral: false });
    const foreignFile = fake.postMessage({ user: { username: 'ben' }, attachments: [{ ...elsewhere, url: `${fake.foreignOrigin}/x.jpg` }] });
    expect((await openMenu(foreignFile, 'ben')).response.data.content).toMatch(/not hosted on Discord/);
    expect(fake.cdn.requests().length).toBe(before);
    expect(fake.internalErrors).toEqual([]);
  });
});
