import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import {
  artwork,
  bodyOf,
  jobIdIn,
  logsFor,
  ORIGINAL_EDITS,
  photo,
  startHarness,
  waitForEdit,
  type Harness,
} from './harness.ts';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function startJob(h: Harness, iterations: number, size = 128) {
  const content = await h.fake.cdn.add(await photo(), { filename: 'photo.jpg' });
  const style = await h.fake.cdn.add(await artwork(), { filename: 'art.png' });
  const command = h.fake.interactions.slashCommand({ name: 'stylize', options: { content, style, size, iterations } });
  await waitForEdit(h.fake, command, '🎨', 30_000);
  return command;
}

describe('the bot keeps its jobs through Discord trouble', () => {
  it('a 429 on a progress edit is waited out and the job still completes', async () => {
    harness = await startHarness();
    const command = await startJob(harness, 120);
    const limited = harness.fake.faults.rateLimit({ method: 'PATCH', route: ORIGINAL_EDITS }, { times: 2, retryAfter: 0.5 });
    const final = await waitForEdit(harness.fake, command, '✅', 60_000);
    expect(limited.hits).toBe(2);
    const refused = harness.fake.requests.filter((r) => r.fault === 'rate-limit');
    expect(refused).toHaveLength(2);
    expect(bodyOf(refused[0]!).content).toMatch(/iteration \d+\/120/);
    expect(final.files).toHaveLength(1);
  });

  it('a progress edit that fails outright is dropped and the job still completes', async () => {
    harness = await startHarness();
    const command = await startJob(harness, 120);
    // discord.js retries a 500 three times; four in a row make that edit fail for good.
    const broken = harness.fake.faults.serverError({ method: 'PATCH', route: ORIGINAL_EDITS }, { times: 4 });
    const final = await waitForEdit(harness.fake, command, '✅', 60_000);
    expect(broken.hits).toBe(4);
    expect(final.files).toHaveLength(1);
    expect(harness.logs.some((line) => line.includes('a progress edit failed; the job goes on'))).toBe(true);
  });

  it('a gateway drop mid-job is resumed; the job finishes and new commands still arrive', async () => {
    harness = await startHarness();
    const command = await startJob(harness, 200);
    harness.fake.gateway.dropConnection(4000);
    await harness.fake.gateway.waitForResume();
    // Still running after the resume, so the final edit below happened on the resumed session.
    const resumedAt = harness.fake.requests.length;
    expect(command.originalMessage()!.data.content).not.toMatch(/^✅/);
    const final = await waitForEdit(harness.fake, command, '✅', 60_000);
    expect(harness.fake.requests.indexOf(final)).toBeGreaterThanOrEqual(resumedAt);
    const queue = harness.fake.interactions.slashCommand({ name: 'queue' });
    expect((await queue.waitForResponse()).json).toMatchObject({ type: 4 });
    expect(harness.fake.gateway.resumes().length).toBeGreaterThan(0);
  });

  it('after the interaction token expires, the result is delivered by editing the message through the channel', async () => {
    harness = await startHarness();
    const command = await startJob(harness, 100);
    harness.fake.clock.advance(16 * 60 * 1000);
    const final = await harness.fake.waitFor(
      (r) =>
        r.method === 'PATCH' &&
        r.route === '/channels/:channel/messages/:message' &&
        (bodyOf(r).content ?? '').startsWith('✅'),
      60_000,
    );
    expect(final.auth).toBe('bot');
    expect(final.status).toBe(200);
    const meta = await sharp(final.files[0]!.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 128, 96]);
    expect(command.originalMessage()!.data.content).toMatch(/^✅/);
    // The webhook route was tried once, refused as expired, and not used again.
    const expired = harness.fake.requestsTo('PATCH', ORIGINAL_EDITS).filter((r) => r.status === 401);
    expect(expired).toHaveLength(1);
  });

  it('when the original message cannot be edited either, the result is posted as a new message that mentions the user', async () => {
    harness = await startHarness();
    const command = await startJob(harness, 100);
    const original = command.originalMessage()!;
    harness.fake.clock.advance(16 * 60 * 1000);
    harness.fake.faults.serverError({ method: 'PATCH', route: '/channels/:channel/messages/:message' }, { times: 20, status: 404 });
    const posted = await harness.fake.waitFor(
      (r) => r.method === 'POST' && r.route === '/channels/:channel/messages' && r.status === 200,
      60_000,
    );
    expect(bodyOf(posted).content).toMatch(new RegExp(`^<@${harness.fake.user.id}> ✅`));
    expect(posted.files[0]?.name).toBe('stylized.png');
    expect(original.data.content).not.toMatch(/^✅/);
  });
});

describe('failures on the bot’s side are named with a job id that the log has', () => {
  it('reading back the public reply fails: the reply ends with a short message instead of staying on hold', async () => {
    harness = await startHarness();
    const { fake } = harness;
    const content = await fake.cdn.add(await photo(), { filename: 'photo.jpg' });
    const style = await fake.cdn.add(await artwork(), { filename: 'art.png' });
    // discord.js tries four times in all.
    const broken = fake.faults.serverError({ method: 'GET', route: ORIGINAL_EDITS }, { times: 4 });
    const command = fake.interactions.slashCommand({ name: 'stylize', options: { content, style, size: 128 } });
    const text = bodyOf(await waitForEdit(fake, command, '❌', 20_000)).content;
    expect(broken.hits).toBe(4);
    const jobId = jobIdIn(text);
    expect(text).toBe(`❌ Sorry, something went wrong on my side. Please try again in a moment. · job \`${jobId}\``);
    expect(logsFor(harness, jobId).find((l) => l.msg === 'could not read back the public reply')?.err).toBeDefined();
    expect(fake.cdn.requests()).toEqual([]);
    expect(command.followUps()).toEqual([]);
  });

  it('a button handler that fails is answered privately, with the id its log line has', async () => {
    harness = await startHarness();
    const { fake } = harness;
    const command = await startJob(harness, 1000);
    const jobId = jobIdIn(command.originalMessage()!.data.content);
    const broken = fake.faults.serverError({ method: 'POST', route: '/interactions/:id/:token/callback' }, { times: 4 });
    const click = fake.interactions.button({ customId: `cancel:${jobId}`, message: command.originalMessage()! });
    const answer = await click.waitForResponse(20_000);
    expect(broken.hits).toBe(4);
    const data = (answer.json as { type: number; data: { content: string; flags: number } }).data;
    expect(data.flags & 64).toBe(64);
    const ref = jobIdIn(data.content);
    expect(data.content).toBe(`Sorry, something went wrong on my side. Please try again in a moment. · job \`${ref}\``);
    expect(ref).not.toBe(jobId);
    expect(logsFor(harness, ref).find((l) => l.msg === 'interaction handler failed')?.err).toBeDefined();
  });
});

describe('shutdown', () => {
  it('tells a user whose images are still downloading that the bot is restarting, without waiting for the download', async () => {
    harness = await startHarness();
    const { fake } = harness;
    const content = await fake.cdn.add(await photo(), { filename: 'photo.jpg', fault: { kind: 'hang' } });
    const style = await fake.cdn.add(await artwork(), { filename: 'art.png' });
    const command = fake.interactions.slashCommand({ name: 'stylize', options: { content, style, size: 128 } });
    await waitForEdit(fake, command, '📥', 10_000);
    await fake.waitUntil(() => fake.cdn.requests().some((r) => r.outcome === 'pending'), 5000, 'the hanging download');

    const started = Date.now();
    await harness.bot.stop();
    expect(Date.now() - started).toBeLessThan(5000); // DOWNLOAD_TIMEOUT_MS is 20 s
    const last = fake.requestsTo('PATCH', ORIGINAL_EDITS).filter((r) => r.interactionId === command.id).at(-1)!;
    expect(last.status).toBe(200);
    const text = bodyOf(last).content;
    expect(text).toMatch(/^🔁 The bot is restarting.*Please try again/);
    expect(logsFor(harness, jobIdIn(text)).some((l) => l.msg === 'shutdown while preparing the request')).toBe(true);
    await fake.waitUntil(() => fake.cdn.requests().every((r) => r.outcome !== 'pending'), 5000, 'downloads ended');
    expect(fake.cdn.requests().find((r) => r.fault === 'hang')?.outcome).toBe('aborted');
  });

  it('tells the queued user the bot is restarting and stops the running job after its grace period', async () => {
    harness = await startHarness({ SHUTDOWN_GRACE_SECONDS: '1', MAX_ITERATIONS: '5000' });
    const running = await startJob(harness, 5000, 256);
    const content = await harness.fake.cdn.add(await photo(), { filename: 'p2.jpg' });
    const style = await harness.fake.cdn.add(await artwork(), { filename: 'a2.png' });
    const queued = harness.fake.interactions.slashCommand({
      name: 'stylize',
      user: harness.fake.addUser('second'),
      options: { content, style, size: 128, iterations: 100 },
    });
    await waitForEdit(harness.fake, queued, '⏳', 30_000);

    const started = Date.now();
    await harness.bot.stop();
    const took = Date.now() - started;
    for (const command of [queued, running]) {
      const edit = harness.fake
        .requestsTo('PATCH', ORIGINAL_EDITS)
        .filter((r) => r.interactionId === command.id)
        .at(-1)!;
      expect(bodyOf(edit).content).toMatch(/^🔁 The bot is restarting.*Please try again/);
      expect(bodyOf(edit).components).toEqual([]);
    }
    expect(took).toBeGreaterThanOrEqual(900);
    expect((await harness.bot.context.queue.snapshot()).accepting).toBe(false);
  });

  it('leaves no socket or server open once the bot and the fake have closed', async () => {
    harness = await startHarness();
    const command = await startJob(harness, 20);
    await waitForEdit(harness.fake, command, '✅', 30_000);
    await harness.close();
    const tcp = () => process.getActiveResourcesInfo().filter((kind) => kind.startsWith('TCP'));
    // Closed sockets leave the list once their close callbacks have run.
    for (let i = 0; i < 20 && tcp().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(tcp()).toEqual([]);
  });
});
