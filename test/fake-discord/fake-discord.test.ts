import { once } from 'node:events';
import { DiscordAPIError, Events, MessageFlags, Routes, type Client, type Interaction } from 'discord.js';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { BOT_PERMISSIONS, loginTestClient, Permission, startFakeDiscord, type FakeDiscord } from './index.ts';

// A real discord.js Client against the fake: login, interactions answered every way the bot will, a dropped
// gateway connection, a 429, expired tokens. Each test gets its own fake on an ephemeral port.

const ORIGINAL = '/webhooks/:app/:token/messages/@original';

let cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function connected(options: Parameters<typeof startFakeDiscord>[0] = {}): Promise<{ fake: FakeDiscord; client: Client<true> }> {
  const fake = await startFakeDiscord(options);
  cleanups.push(async () => {
    await fake.close();
    expect(fake.internalErrors).toEqual([]);
  });
  const client = await loginTestClient(fake);
  cleanups.push(() => client.destroy());
  return { fake, client };
}

/** Runs `handler` for the next interaction and hands back its outcome, so failures surface in the test. */
function nextInteraction(client: Client, handler: (interaction: Interaction) => Promise<unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(Events.InteractionCreate, listener);
      reject(new Error('the client received no interaction within 5 s'));
    }, 5000);
    const listener = (interaction: Interaction): void => {
      clearTimeout(timer);
      handler(interaction).then(resolve, reject);
    };
    client.once(Events.InteractionCreate, listener);
  });
}

function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 90 } } }).png().toBuffer();
}

describe('fake Discord with a real discord.js client', () => {
  it('logs the client in: gateway URL from GET /gateway/bot, IDENTIFY with Guilds only, READY and GUILD_CREATE', async () => {
    const { fake, client } = await connected();

    expect(client.user.id).toBe(fake.botUser.id);
    expect(client.application.id).toBe(fake.applicationId);
    const guild = client.guilds.cache.get(fake.guild.id);
    expect(guild?.name).toBe(fake.guild.name);
    expect(guild?.channels.cache.get(fake.channel.id)?.name).toBe(fake.channel.name);

    const gatewayInfo = fake.requestsTo('GET', '/gateway/bot');
    expect(gatewayInfo).toHaveLength(1);
    expect(gatewayInfo[0]!.auth).toBe('bot');
    expect(gatewayInfo[0]!.headers.authorization).toBe('Bot [redacted]');
    expect(fake.gateway.connections()[0]!.url).toBe('/gateway?v=10&encoding=json');
    expect(fake.gateway.identifies()).toEqual([
      expect.objectContaining({ intents: 1, compress: false, shard: [0, 1] }),
    ]);
    expect(JSON.stringify(fake.gateway.identifies())).not.toContain(fake.token);
    const application = await client.application.fetch();
    expect([application.name, application.owner?.id]).toEqual([fake.botUser.username, fake.user.id]);
    expect((await client.users.fetch(fake.user.id, { force: true })).username).toBe('tester');
    expect(fake.internalErrors).toEqual([]);
  });

  it('delivers a slash command with an attachment option and records the reply', async () => {
    const { fake, client } = await connected();
    const photo = await png(64, 48);
    const attachment = await fake.cdn.add(photo, { filename: 'photo.png' });

    const handled = nextInteraction(client, async (interaction) => {
      if (!interaction.isChatInputCommand()) throw new Error('expected a chat input command');
      const option = interaction.options.getAttachment('content', true);
      const downloaded = Buffer.from(await (await fetch(option.url)).arrayBuffer());
      const response = await interaction.reply({
        content: `${option.name} ${option.width}x${option.height} ${downloaded.equals(photo)}`,
        withResponse: true,
      });
      expect(response.resource?.message?.content).toBe('photo.png 64x48 true');
      return interaction;
    });
    const handle = fake.interactions.slashCommand({ name: 'stylize', options: { content: attachment, size: 256 } });
    const interaction = (await handled) as Interaction;

    expect(interaction.isChatInputCommand() && interaction.options.getInteger('size')).toBe(256);
    expect(interaction.isChatInputCommand() && interaction.attachmentSizeLimit).toBe(10 * 1024 * 1024);
    const callback = await handle.waitForResponse();
    expect(callback.json).toMatchObject({ type: 4, data: { content: 'photo.png 64x48 true' } });
    expect(handle.originalMessage()?.data).toMatchObject({
      content: 'photo.png 64x48 true',
      author: { id: fake.botUser.id },
      interaction_metadata: { id: handle.id, user: { id: fake.user.id } },
    });
    expect(fake.cdn.requests()).toEqual([expect.objectContaining({ attachmentId: attachment.id, status: 200, outcome: 'complete' })]);
  });

  it('defers, then edits the reply with a PNG file that the test decodes', async () => {
    const { fake, client } = await connected();
    const result = await png(512, 384);

    const handled = nextInteraction(client, async (interaction) => {
      if (!interaction.isChatInputCommand()) return;
      await interaction.deferReply();
      await interaction.editReply({ content: 'Working... 50%' });
      await interaction.editReply({ content: 'Done!', files: [{ attachment: result, name: 'stylized.png' }] });
    });
    const handle = fake.interactions.slashCommand({ name: 'stylize' });
    await handled;

    expect(handle.callbackType).toBe(5);
    const edits = fake.requestsTo('PATCH', ORIGINAL);
    expect(edits.map((r) => r.status)).toEqual([200, 200]);
    const file = edits.at(-1)!.files[0]!;
    expect(file).toMatchObject({ field: 'files[0]', name: 'stylized.png', contentType: 'image/png' });
    const meta = await sharp(file.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 512, 384]);

    const message = handle.originalMessage()!;
    expect(message.revisions.map((m) => m.content)).toEqual(['', 'Working... 50%', 'Done!']);
    expect(message.revisions[0]!.flags).toBe(MessageFlags.Loading);
    const [stored] = message.data.attachments;
    expect(stored).toMatchObject({ filename: 'stylized.png', width: 512, height: 384, content_type: 'image/png' });
    const served = Buffer.from(await (await fetch(stored!.url)).arrayBuffer());
    expect(served.equals(result)).toBe(true);
  });

  it('sends an ephemeral reply and a follow-up with a file', async () => {
    const { fake, client } = await connected();
    const handled = nextInteraction(client, async (interaction) => {
      if (!interaction.isChatInputCommand()) return;
      await interaction.reply({ content: 'Queued.', flags: MessageFlags.Ephemeral });
      await interaction.followUp({ content: 'Here it is', files: [{ attachment: Buffer.from('data'), name: 'out.bin' }] });
    });
    const handle = fake.interactions.slashCommand({ name: 'stylize' });
    await handled;

    expect(handle.originalMessage()?.ephemeral).toBe(true);
    const [followUp] = handle.followUps();
    expect(followUp?.data).toMatchObject({
      content: 'Here it is',
      interaction_metadata: { original_response_message_id: handle.originalMessage()!.id },
    });
    expect(fake.requestsTo('POST', '/webhooks/:app/:token')[0]!.query).toEqual({ wait: 'true' });
    expect(Buffer.from(fake.cdn.bytes(followUp!.data.attachments[0]!)!).toString()).toBe('data');
  });

  it('clicks a button on the bot message and sees the message updated', async () => {
    const { fake, client } = await connected();
    const replied = nextInteraction(client, async (interaction) => {
      if (!interaction.isChatInputCommand()) return;
      await interaction.reply({
        content: 'Job 7 queued',
        components: [{ type: 1, components: [{ type: 2, style: 4, label: 'Cancel', custom_id: 'cancel:7' }] }],
      });
    });
    const command = fake.interactions.slashCommand({ name: 'stylize' });
    await replied;

    const clicked = nextInteraction(client, async (interaction) => {
      if (!interaction.isButton()) throw new Error('expected a button');
      await interaction.update({ content: `Cancelled by ${interaction.user.username}`, components: [] });
    });
    const click = fake.interactions.button({ customId: 'cancel:7', message: command.originalMessage()! });
    await clicked;

    expect(click.callbackType).toBe(7);
    expect(command.originalMessage()?.data).toMatchObject({ content: 'Cancelled by tester', components: [] });
    expect(() => fake.interactions.button({ customId: 'nope', message: command.originalMessage()! })).toThrow(/no button/);
  });

  it('survives a dropped gateway connection: resumes on resume_gateway_url and replays the missed event', async () => {
    const { fake, client } = await connected();
    const sessionId = fake.gateway.sessionId;

    fake.gateway.dropConnection(4000);
    // Dispatched while the client is away: Discord replays it after RESUME.
    const handled = nextInteraction(client, async (interaction) => {
      if (interaction.isRepliable()) await interaction.reply('still here');
    });
    const handle = fake.interactions.slashCommand({ name: 'stylize' });
    const resume = await fake.gateway.waitForResume();
    await handled;

    expect(resume).toMatchObject({ sessionId, outcome: 'resumed', replayed: 1 });
    expect(fake.gateway.connections().map((c) => c.url)).toEqual([
      '/gateway?v=10&encoding=json',
      '/gateway/resume?v=10&encoding=json',
    ]);
    expect(fake.gateway.identifies()).toHaveLength(1);
    expect(handle.originalMessage()?.data.content).toBe('still here');
  });

  it('resumes after op 7 RECONNECT and after a zombie connection whose heartbeats go unanswered', async () => {
    const { fake } = await connected({ heartbeatIntervalMs: 100 });

    fake.gateway.requestReconnect();
    await fake.gateway.waitForResume();
    fake.gateway.ackHeartbeats = false;
    await fake.waitUntil(() => fake.gateway.connections()[1]?.closedAt, 3000, 'the zombie connection to close');
    fake.gateway.ackHeartbeats = true;
    await fake.gateway.waitForResume({ count: 2 });

    expect(fake.gateway.connections().map((c) => [c.closedBy, c.closeCode])).toEqual([
      ['client', 4200],
      ['client', 4200],
      [undefined, undefined],
    ]);
    expect(fake.gateway.identifies()).toHaveLength(1);
  });

  it('re-identifies after a non-resumable INVALID_SESSION', async () => {
    const fake = await startFakeDiscord();
    cleanups.push(() => fake.close());
    // @discordjs/ws waits ~5 s between identifies; a test does not have to.
    const client = await loginTestClient(fake, { ws: { buildIdentifyThrottler: () => Promise.resolve({ waitForIdentify: () => Promise.resolve() }) } });
    cleanups.push(() => client.destroy());
    const firstSession = fake.gateway.sessionId;
    // Wait for the client's side too: destroying discord.js while it waits for READY makes it reconnect forever.
    const clientReadyAgain = once(client, Events.ShardReady);

    fake.gateway.invalidateSession(false);
    await fake.waitForReady({ count: 2 });
    await clientReadyAgain;

    expect(fake.gateway.identifies()).toHaveLength(2);
    expect(fake.gateway.sessionId).not.toBe(firstSession);
  });

  it('retries a 429 on PATCH @original and succeeds', async () => {
    const { fake, client } = await connected();
    const limited = fake.faults.rateLimit({ method: 'PATCH', route: ORIGINAL }, { times: 2, retryAfter: 0.05 });
    const rateLimits: unknown[] = [];
    client.rest.on('rateLimited', (info) => rateLimits.push(info));

    const handled = nextInteraction(client, async (interaction) => {
      if (!interaction.isChatInputCommand()) return;
      await interaction.deferReply();
      await interaction.editReply('finally');
    });
    const handle = fake.interactions.slashCommand({ name: 'stylize' });
    await handled;

    const attempts = fake.requestsTo('PATCH', ORIGINAL);
    expect(attempts.map((r) => [r.status, r.fault])).toEqual([
      [429, 'rate-limit'],
      [429, 'rate-limit'],
      [200, undefined],
    ]);
    expect(attempts[0]!.response).toEqual({ message: 'You are being rate limited.', retry_after: 0.05, global: false });
    expect(limited).toMatchObject({ hits: 2, remaining: 0 });
    expect(handle.originalMessage()?.data.content).toBe('finally');
  });

  it('answers a second callback with 40060 and an expired token with 50027, and the channel route still edits', async () => {
    const { fake, client } = await connected();
    const handled = nextInteraction(client, async (interaction) => {
      if (!interaction.isChatInputCommand()) return;
      await interaction.reply('first');
      const again = await client.rest
        .post(Routes.interactionCallback(interaction.id, interaction.token), { body: { type: 4, data: { content: 'x' } }, auth: false })
        .catch((error: unknown) => error);
      fake.clock.advance(16 * 60_000);
      const expired = await interaction.editReply('too late').catch((error: unknown) => error);
      const message = await interaction.fetchReply().catch((error: unknown) => error);
      const channel = await client.channels.fetch(interaction.channelId);
      if (!channel?.isSendable()) throw new Error('channel not sendable');
      const edited = await channel.messages.edit(fake.messages.inChannel(fake.channel.id)[0]!.id, 'edited via channel');
      return { again, expired, message, edited };
    });
    const handle = fake.interactions.slashCommand({ name: 'stylize' });
    const { again, expired, message, edited } = (await handled) as Record<string, unknown>;

    expect(again).toBeInstanceOf(DiscordAPIError);
    expect(again).toMatchObject({ status: 400, code: 40060, message: 'Interaction has already been acknowledged.' });
    expect(expired).toMatchObject({ status: 401, code: 50027, message: 'Invalid Webhook Token' });
    expect(message).toMatchObject({ status: 401, code: 50027 });
    expect(edited).toMatchObject({ content: 'edited via channel' });
    expect(handle.originalMessage()?.data.content).toBe('edited via channel');
    expect(fake.requestsTo('PATCH', '/channels/:channel/messages/:message')[0]!.auth).toBe('bot');
  });

  it('refuses a reply after the 3-second deadline and an upload above the attachment size limit', async () => {
    const { fake, client } = await connected();
    const late = nextInteraction(client, async (interaction) => {
      fake.clock.advance(3_001);
      if (interaction.isChatInputCommand()) return interaction.reply('late').catch((error: unknown) => error);
    });
    fake.interactions.slashCommand({ name: 'stylize' });
    expect(await late).toMatchObject({ status: 404, code: 10062, message: 'Unknown interaction' });

    const big = nextInteraction(client, async (interaction) => {
      if (!interaction.isChatInputCommand()) return;
      await interaction.deferReply();
      const files = [{ attachment: Buffer.alloc(2048), name: 'big.png' }];
      return interaction.editReply({ files }).catch((error: unknown) => error);
    });
    fake.interactions.slashCommand({ name: 'stylize', attachmentSizeLimit: 1024 });
    expect(await big).toMatchObject({ status: 413, code: 40005, message: 'Request entity too large' });
    expect(fake.requestsTo('PATCH', ORIGINAL).at(-1)!.files[0]!.bytes.byteLength).toBe(2048);
  });

  it('registers commands and builds slash commands from their definitions', async () => {
    const { fake, client } = await connected();
    await client.application.commands.set(
      [
        {
          name: 'stylize',
          description: 'Paint a photo in the style of an artwork',
          options: [
            { type: 11, name: 'content', description: 'Photo', required: true },
            { type: 4, name: 'size', description: 'Long side', min_value: 64, max_value: 1024 },
          ],
        },
      ],
      fake.guild.id,
    );
    const bad = await client.application.commands
      .set([{ name: 'Bad Name', description: '' }])
      .catch((error: unknown) => error);

    expect(bad).toMatchObject({ status: 400, code: 50035 });
    expect(fake.commands.list(fake.guild.id).map((c) => c.name)).toEqual(['stylize']);
    const photo = await fake.cdn.add(await png(8, 8), { filename: 'p.png' });
    expect(() => fake.interactions.slashCommand({ name: 'stylize', options: { size: 512 } })).toThrow(/required option "content"/);
    expect(() => fake.interactions.slashCommand({ name: 'stylize', options: { content: photo, size: 4096 } })).toThrow(/above 1024/);
    const handle = fake.interactions.slashCommand({ name: 'stylize', options: { content: photo, size: 512 } });
    expect(handle.payload.data).toMatchObject({
      id: fake.commands.list(fake.guild.id)[0]!.id,
      guild_id: fake.guild.id,
      options: [
        { name: 'content', type: 11, value: photo.id },
        { name: 'size', type: 4, value: 512 },
      ],
      resolved: { attachments: { [photo.id]: photo } },
    });
  });

  it('sends autocomplete interactions (type 4) and takes choices (callback 8), checked like Discord', async () => {
    const { fake, client } = await connected();
    await client.application.commands.set(
      [
        {
          name: 'stylize',
          description: 'Paint',
          options: [
            { type: 11, name: 'content', description: 'Photo', required: true },
            { type: 3, name: 'preset', description: 'A style', autocomplete: true },
            { type: 3, name: 'note', description: 'Free text' },
          ],
        },
      ],
      fake.guild.id,
    );
    const answered = nextInteraction(client, async (interaction) => {
      if (!interaction.isAutocomplete()) throw new Error('expected autocomplete');
      const focused = interaction.options.getFocused(true);
      await interaction.respond([{ name: `You typed ${focused.value} in ${focused.name}`, value: 'v1' }]);
    });
    const typing = fake.interactions.autocomplete({ name: 'stylize', focused: 'preset', typed: 'sta', options: { note: 'x' } });
    await answered;
    expect(typing.payload).toMatchObject({ type: 4, data: { options: [{ name: 'note', type: 3, value: 'x' }, { name: 'preset', type: 3, value: 'sta', focused: true }] } });
    expect(typing.callbackType).toBe(8);
    expect(typing.choices).toEqual([{ name: 'You typed sta in preset', value: 'v1' }]);
    expect(() => fake.interactions.autocomplete({ name: 'stylize', focused: 'note', typed: 'a' })).toThrow(/no option "note" with autocomplete/);

    // Too many choices, or an answer of the wrong kind, is refused as Discord does.
    const tooMany = nextInteraction(client, async (interaction) => {
      if (!interaction.isAutocomplete()) throw new Error('expected autocomplete');
      return interaction.respond(Array.from({ length: 26 }, (_, i) => ({ name: `n${i}`, value: `v${i}` }))).catch((e: unknown) => e);
    });
    fake.interactions.autocomplete({ name: 'stylize', focused: 'preset', typed: '' });
    expect(await tooMany).toMatchObject({ status: 400, code: 50035 });
    const wrongKind = nextInteraction(client, async (interaction) => {
      if (!interaction.isAutocomplete()) throw new Error('expected autocomplete');
      return client.rest
        .post(Routes.interactionCallback(interaction.id, interaction.token), { body: { type: 4, data: { content: 'hi' } }, auth: false })
        .catch((e: unknown) => e);
    });
    fake.interactions.autocomplete({ name: 'stylize', focused: 'preset', typed: '' });
    expect(await wrongKind).toMatchObject({ status: 400, code: 50035 });
  });

  it('sends a message command (type 2, data.type 3) on a member’s message, and the bot replies to it in the channel', async () => {
    const { fake, client } = await connected();
    await client.application.commands.set([{ type: 3, name: 'Stylize this image' }], fake.guild.id);
    const photo = await fake.cdn.add(await png(40, 30), { filename: 'cat.png', ephemeral: false });
    const posted = fake.postMessage({ user: { username: 'ann' }, content: 'look', attachments: [photo] });

    const seen = nextInteraction(client, async (interaction) => {
      if (!interaction.isMessageContextMenuCommand()) throw new Error('expected a message command');
      const target = interaction.targetMessage;
      await interaction.reply({ content: `${target.author.username}: ${target.attachments.first()?.name}`, flags: MessageFlags.Ephemeral });
      return client.rest.post(Routes.channelMessages(target.channelId), {
        body: { content: 'a reply', message_reference: { message_id: target.id } },
      });
    });
    const command = fake.interactions.messageCommand({ name: 'Stylize this image', target: posted });
    await seen;

    expect(command.payload).toMatchObject({
      type: 2,
      data: { type: 3, name: 'Stylize this image', target_id: posted.id, id: fake.commands.list(fake.guild.id)[0]!.id },
    });
    expect(command.originalMessage()?.data.content).toBe('ann: cat.png');
    const reply = fake.messages.inChannel(fake.channel.id).at(-1)!;
    expect(reply.data).toMatchObject({ type: 19, content: 'a reply', message_reference: { message_id: posted.id }, referenced_message: { id: posted.id } });

    // A reply to a message that does not exist fails unless fail_if_not_exists is false; it needs Read Message History.
    const channel = client.channels.cache.get(fake.channel.id);
    if (!channel?.isSendable()) throw new Error('no channel');
    const unknown = await channel.send({ content: 'x', reply: { messageReference: '1234567890123456789' } }).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ status: 400, code: 50035 });
    await channel.send({ content: 'y', reply: { messageReference: '1234567890123456789', failIfNotExists: false } });
    fake.setBotPermissions(fake.channel.id, BOT_PERMISSIONS & ~Permission.ReadMessageHistory);
    const blind = await channel.send({ content: 'z', reply: { messageReference: posted.id } }).catch((e: unknown) => e);
    expect(blind).toMatchObject({ status: 403, code: 50013 });
  });

  it('sends string select choices (component type 3) from a menu the bot sent, checked against its options', async () => {
    const { fake, client } = await connected();
    const menu = {
      type: 1,
      components: [{ type: 3, custom_id: 'pick:1', options: [{ label: 'A', value: 'a' }, { label: 'B', value: 'b' }] }],
    };
    const shown = nextInteraction(client, async (interaction) => {
      if (!interaction.isChatInputCommand()) throw new Error('expected a command');
      await interaction.reply({ content: 'Pick', components: [menu], flags: MessageFlags.Ephemeral });
    });
    const command = fake.interactions.slashCommand({ name: 'pick' });
    await shown;
    const message = command.originalMessage()!;
    expect(() => fake.interactions.select({ customId: 'pick:1', message, values: ['c'] })).toThrow(/no option c/);
    expect(() => fake.interactions.select({ customId: 'pick:1', message, values: ['a', 'b'] })).toThrow(/1 to 1 distinct values/);
    expect(() => fake.interactions.button({ customId: 'pick:1', message })).toThrow(/no button/);

    const picked = nextInteraction(client, async (interaction) => {
      if (!interaction.isStringSelectMenu()) throw new Error('expected a select');
      await interaction.update({ content: `Picked ${interaction.values.join()}`, components: [] });
    });
    const select = fake.interactions.select({ customId: 'pick:1', message, values: ['b'] });
    await picked;
    expect(select.payload).toMatchObject({ type: 3, data: { custom_id: 'pick:1', component_type: 3, values: ['b'] } });
    expect(message.data).toMatchObject({ content: 'Picked b', components: [] });

    // A menu Discord would refuse: 26 options, or a second component beside it in the row.
    const refused = nextInteraction(client, async (interaction) => {
      if (!interaction.isChatInputCommand()) throw new Error('expected a command');
      const options = Array.from({ length: 26 }, (_, i) => ({ label: `L${i}`, value: `v${i}` }));
      return interaction.reply({ content: 'x', components: [{ type: 1, components: [{ type: 3, custom_id: 'm', options }] }] }).catch((e: unknown) => e);
    });
    fake.interactions.slashCommand({ name: 'pick' });
    expect(await refused).toMatchObject({ status: 400, code: 50035 });
  });

  it('puts added roles in GUILD_CREATE and members’ roles, so discord.js resolves them by name', async () => {
    const fake = await startFakeDiscord();
    cleanups.push(() => fake.close());
    const curators = fake.addRole('Curators');
    const client = await loginTestClient(fake);
    cleanups.push(() => client.destroy());
    const seen = nextInteraction(client, (interaction) => {
      if (!interaction.inCachedGuild()) return Promise.reject(new Error('expected a cached guild'));
      return Promise.resolve(interaction.member.roles.cache.map((role) => role.name).sort());
    });
    fake.interactions.slashCommand({ name: 'x', member: { roles: [curators.id] } });
    expect(await seen).toEqual(['@everyone', 'Curators']);
  });
});
