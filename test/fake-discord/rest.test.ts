import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BOT_PERMISSIONS, MEMBER_PERMISSIONS, Permission, startFakeDiscord, type FakeDiscord } from './index.ts';
import { RawGatewayClient } from './raw-gateway-client.ts';

// REST behaviour checked with plain fetch, where discord.js would hide status codes and bodies.

let fake: FakeDiscord;
let gateway: RawGatewayClient;

beforeEach(async () => {
  fake = await startFakeDiscord();
  gateway = await RawGatewayClient.connect(`${fake.gateway.url}?v=10&encoding=json`);
  await gateway.identify(fake.token);
});

afterEach(async () => {
  await gateway.close();
  await fake.close();
  expect(fake.internalErrors).toEqual([]);
});

interface CallOptions {
  json?: unknown;
  files?: { name: string; bytes: Uint8Array; type?: string }[];
  auth?: string | false;
  rawBody?: string;
}

async function call(method: string, path: string, options: CallOptions = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (options.auth !== false) headers.authorization = options.auth ?? `Bot ${fake.token}`;
  let body: RequestInit['body'];
  if (options.files) {
    const form = new FormData();
    if (options.json !== undefined) form.append('payload_json', JSON.stringify(options.json));
    options.files.forEach((file, index) => {
      form.append(`files[${index}]`, new Blob([file.bytes], { type: file.type ?? 'application/octet-stream' }), file.name);
    });
    body = form;
  } else if (options.json !== undefined || options.rawBody !== undefined) {
    headers['content-type'] = 'application/json';
    body = options.rawBody ?? JSON.stringify(options.json);
  }
  const response = await fetch(`${fake.apiUrl}/v10${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined, headers: response.headers };
}

const text = (s: string) => new Uint8Array(Buffer.from(s));

/** Walks into parsed JSON: `at(body, 'errors', 'content', '_errors', 0, 'code')`. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  let node = value;
  for (const key of path) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
  return node;
}

describe('REST errors', () => {
  it('answers auth and routing problems with Discord status codes and bodies', async () => {
    expect(await call('GET', '/users/@me', { auth: false })).toMatchObject({ status: 401, body: { message: '401: Unauthorized', code: 0 } });
    expect(await call('GET', '/users/@me', { auth: 'Bot not.the.token' })).toMatchObject({ status: 401 });
    expect(await call('GET', '/users/@me')).toMatchObject({ status: 200, body: { id: fake.botUser.id, bot: true } });
    expect(await call('GET', '/no/such/route')).toMatchObject({ status: 404, body: { message: '404: Not Found', code: 0 } });
    expect(await call('DELETE', '/users/@me')).toMatchObject({ status: 405, body: { code: 0 } });
    expect(await call('POST', `/channels/${fake.channel.id}/messages`, { rawBody: '{"content":' })).toMatchObject({
      status: 400,
      body: { code: 50109 },
    });

    const invalid = fake.requests.find((r) => r.auth === 'invalid')!;
    expect(invalid.headers.authorization).toBe('[invalid]');
    expect(fake.requests.map((r) => r.route)).toContain('unknown');
    const info = await call('GET', '/gateway/bot');
    expect(info.body).toEqual({
      url: fake.gateway.url,
      shards: 1,
      session_start_limit: { total: 1000, remaining: 999, reset_after: 86_400_000, max_concurrency: 1 },
    });
    expect(info.headers.get('x-ratelimit-bucket')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('channel routes need access, Send Messages and Attach Files, and refuse empty or too long messages', async () => {
    const channel = `/channels/${fake.channel.id}/messages`;
    expect(await call('POST', '/channels/123456789012345678/messages', { json: { content: 'hi' } })).toMatchObject({
      status: 403,
      body: { message: 'Missing Access', code: 50001 },
    });
    expect(await call('POST', channel, { json: { content: '' } })).toMatchObject({ status: 400, body: { code: 50006 } });
    const tooLong = await call('POST', channel, { json: { content: 'x'.repeat(2001) } });
    expect(tooLong).toMatchObject({ status: 400, body: { code: 50035, message: 'Invalid Form Body' } });
    expect(at(tooLong.body, 'errors', 'content', '_errors', 0, 'code')).toBe('BASE_TYPE_MAX_LENGTH');

    fake.setBotPermissions(fake.channel.id, BOT_PERMISSIONS & ~Permission.AttachFiles);
    const withFile = await call('POST', channel, { json: { content: 'see file' }, files: [{ name: 'a.txt', bytes: text('a') }] });
    expect(withFile).toMatchObject({ status: 403, body: { code: 50013, message: 'Missing Permissions' } });
    const mention = await call('POST', channel, { json: { content: `Done, <@${fake.user.id}>!` } });
    expect(mention).toMatchObject({ status: 200, body: { content: `Done, <@${fake.user.id}>!`, mentions: [{ id: fake.user.id }] } });
    const silent = await call('POST', channel, { json: { content: `<@${fake.user.id}>`, allowed_mentions: { parse: [] } } });
    expect(at(silent.body, 'mentions')).toEqual([]);

    const other = fake.addChannel('other');
    expect(await call('PATCH', `/channels/${other.id}/messages/${String(at(mention.body, 'id'))}`, { json: { content: 'x' } })).toMatchObject({
      status: 404,
      body: { code: 10008 },
    });
    expect(fake.messages.inChannel(fake.channel.id).map((m) => m.data.content)).toEqual([`Done, <@${fake.user.id}>!`, `<@${fake.user.id}>`]);
  });
});

describe('interaction tokens', () => {
  it('checks the webhook token: unknown, wrong application, no reply yet, expired after 15 minutes', async () => {
    const handle = fake.interactions.slashCommand({ name: 'stylize' });
    const webhook = `/webhooks/${fake.applicationId}/${handle.token}`;

    expect(await call('GET', `/webhooks/${fake.applicationId}/not-a-token/messages/@original`, { auth: false })).toMatchObject({
      status: 401,
      body: { message: 'Invalid Webhook Token', code: 50027 },
    });
    expect(await call('GET', `/webhooks/1/${handle.token}/messages/@original`, { auth: false })).toMatchObject({
      status: 404,
      body: { code: 10015 },
    });
    expect(await call('GET', `${webhook}/messages/@original`, { auth: false })).toMatchObject({ status: 404, body: { code: 10008 } });
    expect(await call('POST', webhook, { json: { content: 'early' }, auth: false })).toMatchObject({ status: 404, body: { code: 10015 } });

    const deferred = await call('POST', `/interactions/${handle.id}/${handle.token}/callback?with_response=true`, {
      json: { type: 5 },
      auth: false,
    });
    expect(deferred.body).toMatchObject({
      interaction: { id: handle.id, type: 2, response_message_loading: true, response_message_ephemeral: false },
      resource: { type: 5 },
    });
    expect(await call('POST', `/interactions/${handle.id}/${handle.token}/callback`, { json: { type: 4 }, auth: false })).toMatchObject({
      status: 400,
      body: { code: 40060 },
    });

    fake.clock.advance(14 * 60_000);
    expect(await call('GET', `${webhook}/messages/@original`, { auth: false })).toMatchObject({ status: 200, body: { content: '' } });
    fake.clock.advance(60_001);
    expect(await call('PATCH', `${webhook}/messages/@original`, { json: { content: 'late' }, auth: false })).toMatchObject({
      status: 401,
      body: { code: 50027 },
    });
    expect(handle.tokenAgeMs()).toBeGreaterThan(15 * 60_000);
    expect(handle.requests().map((r) => r.status)).toEqual([404, 404, 404, 200, 400, 200, 401]);
  });

  it('kills a token that was not acknowledged within 3 seconds, and expires one token on request', async () => {
    const slow = fake.interactions.slashCommand({ name: 'stylize' });
    fake.clock.advance(3001);
    expect(await call('POST', `/interactions/${slow.id}/${slow.token}/callback`, { json: { type: 5 }, auth: false })).toMatchObject({
      status: 404,
      body: { message: 'Unknown interaction', code: 10062 },
    });
    expect(await call('POST', `/webhooks/${fake.applicationId}/${slow.token}`, { json: { content: 'x' }, auth: false })).toMatchObject({
      status: 401,
      body: { code: 50027 },
    });

    const one = fake.interactions.slashCommand({ name: 'stylize' });
    const other = fake.interactions.slashCommand({ name: 'stylize' });
    for (const h of [one, other]) {
      await call('POST', `/interactions/${h.id}/${h.token}/callback`, { json: { type: 4, data: { content: 'hi' } }, auth: false });
    }
    one.expireToken();
    expect((await call('GET', `/webhooks/${fake.applicationId}/${one.token}/messages/@original`, { auth: false })).status).toBe(401);
    expect((await call('GET', `/webhooks/${fake.applicationId}/${other.token}/messages/@original`, { auth: false })).status).toBe(200);
  });

  it('fills a deferred reply with the first follow-up (legacy behaviour) and creates later ones as new messages', async () => {
    const handle = fake.interactions.slashCommand({ name: 'stylize' });
    const webhook = `/webhooks/${fake.applicationId}/${handle.token}`;
    await call('POST', `/interactions/${handle.id}/${handle.token}/callback`, { json: { type: 5, data: { flags: 64 } }, auth: false });
    const first = await call('POST', `${webhook}?wait=true`, { json: { content: 'one' }, auth: false });
    const second = await call('POST', `${webhook}?wait=true`, { json: { content: 'two', flags: 64 }, auth: false });

    const firstId = String(at(first.body, 'id'));
    const secondId = String(at(second.body, 'id'));
    expect(firstId).toBe(handle.originalMessage()!.id);
    expect(handle.originalMessage()!.data).toMatchObject({ content: 'one', flags: 64 });
    expect(handle.followUps().map((m) => [m.data.content, m.ephemeral])).toEqual([['two', true]]);
    expect(at(second.body, 'interaction_metadata', 'original_response_message_id')).toBe(firstId);
    expect(await call('GET', `/channels/${fake.channel.id}/messages/${firstId}`)).toMatchObject({ status: 404, body: { code: 10008 } });
    expect(await call('PATCH', `${webhook}/messages/${secondId}`, { json: { content: 'two!' }, auth: false })).toMatchObject({
      status: 200,
      body: { content: 'two!' },
    });
  });
});

describe('interaction payloads', () => {
  it('builds guild interactions for named users and admins, and DM interactions without a member', () => {
    const admin = fake.interactions.slashCommand({
      name: 'queue',
      user: { username: 'alice' },
      member: { permissions: Permission.Administrator | MEMBER_PERMISSIONS, roles: ['1'] },
      attachmentSizeLimit: 25 * 1024 * 1024,
    });
    const again = fake.interactions.slashCommand({ name: 'queue', user: { username: 'alice' } });
    const dm = fake.interactions.slashCommand({ name: 'queue', guildId: null, channelId: '222222222222222222' });

    const payload = admin.payload as unknown as Record<string, unknown>;
    expect(payload).toMatchObject({
      type: 2,
      guild_id: fake.guild.id,
      channel_id: fake.channel.id,
      channel: { id: fake.channel.id, type: 0, name: fake.channel.name },
      member: { user: { username: 'alice' }, roles: ['1'], permissions: String(Permission.Administrator | MEMBER_PERMISSIONS) },
      app_permissions: String(BOT_PERMISSIONS),
      attachment_size_limit: 25 * 1024 * 1024,
      authorizing_integration_owners: { '0': fake.guild.id },
      context: 0,
      data: { name: 'queue', type: 1 },
    });
    expect(payload.data).not.toHaveProperty('options');
    expect(at(again.payload, 'member', 'user', 'id')).toBe(at(payload, 'member', 'user', 'id'));
    expect(dm.payload).toMatchObject({ context: 1, user: { id: fake.user.id }, channel: { type: 1 } });
    expect(dm.payload).not.toHaveProperty('member');
    expect(dm.payload).not.toHaveProperty('guild_id');
  });
});

describe('attachments on edits', () => {
  it('appends new files, keeps only the listed ones, and refuses unknown ids (API v10 rules)', async () => {
    const handle = fake.interactions.slashCommand({ name: 'stylize' });
    const original = `/webhooks/${fake.applicationId}/${handle.token}/messages/@original`;
    const names = () => handle.originalMessage()!.data.attachments.map((a) => a.filename);
    const reply = await call('POST', `/interactions/${handle.id}/${handle.token}/callback`, {
      json: { type: 4, data: { content: 'v1' } },
      files: [{ name: 'a.txt', bytes: text('a') }],
      auth: false,
    });
    expect(reply.status).toBe(204);
    const aId = handle.originalMessage()!.data.attachments[0]!.id;

    await call('PATCH', original, { json: { content: 'v2' }, files: [{ name: 'b.txt', bytes: text('b') }], auth: false });
    expect(names()).toEqual(['a.txt', 'b.txt']);
    await call('PATCH', original, { json: { attachments: [{ id: aId }] }, files: [{ name: 'c.txt', bytes: text('c') }], auth: false });
    expect(names()).toEqual(['a.txt']);
    await call('PATCH', original, { json: { attachments: [{ id: '0', description: 'result' }] }, files: [{ name: 'd.png', bytes: text('d') }], auth: false });
    expect(handle.originalMessage()!.data.attachments).toEqual([expect.objectContaining({ filename: 'd.png', description: 'result' })]);
    const unknown = await call('PATCH', original, { json: { attachments: [{ id: '42' }] }, auth: false });
    expect(unknown).toMatchObject({ status: 400, body: { code: 50035 } });
    await call('PATCH', original, { json: { attachments: [] }, auth: false });
    expect(names()).toEqual([]);
    expect(handle.originalMessage()!.data.content).toBe('v2');
    expect(handle.originalMessage()!.revisions).toHaveLength(5);
  });

  it('rewrites attachment:// URLs in embeds to the uploaded file', async () => {
    const response = await call('POST', `/channels/${fake.channel.id}/messages`, {
      json: { embeds: [{ title: 'Result', image: { url: 'attachment://out.png' } }] },
      files: [{ name: 'out.png', bytes: text('not really a png'), type: 'image/png' }],
    });
    expect(response.status).toBe(200);
    expect(at(response.body, 'embeds', 0, 'image', 'url')).toBe(at(response.body, 'attachments', 0, 'url'));
    expect(at(response.body, 'embeds', 0, 'type')).toBe('rich');
  });
});

describe('commands', () => {
  it('keeps ids on bulk overwrite, refuses bad definitions and guilds the bot is not in', async () => {
    const path = `/applications/${fake.applicationId}/commands`;
    const definition = { name: 'stylize', description: 'Stylize a photo', options: [{ type: 11, name: 'content', description: 'Photo', required: true }] };
    const first = await call('PUT', path, { json: [definition] });
    const second = await call('PUT', path, { json: [definition, { name: 'help', description: 'Help' }] });
    expect(at(second.body, 0, 'id')).toBe(at(first.body, 0, 'id'));
    expect((await call('GET', path)).body).toHaveLength(2);

    const misordered = await call('PUT', path, {
      json: [{ name: 'x', description: 'x', options: [{ type: 3, name: 'a', description: 'a' }, { type: 3, name: 'b', description: 'b', required: true }] }],
    });
    expect(misordered).toMatchObject({ status: 400, body: { code: 50035 } });
    expect(at(misordered.body, 'errors', '0', 'options', '1', 'required', '_errors', 0, 'code')).toBe(
      'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID',
    );
    expect(await call('GET', `/applications/${fake.applicationId}/guilds/1/commands`)).toMatchObject({ status: 403, body: { code: 50001 } });
    expect((await call('POST', path, { json: { name: 'help', description: 'More help' } })).status).toBe(200);
    expect((await call('POST', path, { json: { name: 'info', description: 'Info' } })).status).toBe(201);
  });
});

describe('REST faults', () => {
  it('serves 5xx, resets and delays on demand, then recovers', async () => {
    const route = { method: 'GET', route: '/users/@me' };
    const failing = fake.faults.serverError(route, { status: 503 });
    expect(await call('GET', '/users/@me')).toMatchObject({ status: 503, body: { code: 0 } });
    expect(failing).toMatchObject({ hits: 1, remaining: 0 });
    expect((await call('GET', '/users/@me')).status).toBe(200);

    fake.faults.reset(route);
    const reset = await call('GET', '/users/@me').catch((error: unknown) => error);
    expect(reset).toBeInstanceOf(TypeError);
    expect(String((reset as TypeError & { cause?: { code?: string } }).cause?.code)).toBe('ECONNRESET');

    fake.faults.delay(route, { ms: 150 });
    const started = Date.now();
    expect((await call('GET', '/users/@me')).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    const limited = await (async () => {
      fake.faults.rateLimit(route, { retryAfter: 1.5, global: true });
      return call('GET', '/users/@me');
    })();
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ message: 'You are being rate limited.', retry_after: 1.5, global: true });
    expect(Object.fromEntries(['retry-after', 'x-ratelimit-remaining', 'x-ratelimit-reset-after', 'x-ratelimit-scope', 'x-ratelimit-global'].map((h) => [h, limited.headers.get(h)]))).toEqual({
      'retry-after': '1.5',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset-after': '1.500',
      'x-ratelimit-scope': 'global',
      'x-ratelimit-global': 'true',
    });
    expect(fake.requests.map((r) => r.fault).filter(Boolean)).toEqual(['server-error', 'reset', 'rate-limit']);
  });
});
