import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermissionFlagsBits } from 'discord.js';
import { MEMBER_PERMISSIONS, type InteractionHandle } from '../../fake-discord/index.ts';
import { artwork, bodyOf, photo, startHarness, waitForEdit, type Harness } from './harness.ts';

let harness: Harness;
let content: Awaited<ReturnType<Harness['fake']['cdn']['add']>>;
let style: typeof content;

beforeAll(async () => {
  harness = await startHarness({ MAX_QUEUE: '2', MAX_JOBS_PER_USER: '1', MAX_ITERATIONS: '5000' });
  content = await harness.fake.cdn.add(await photo(), { filename: 'photo.jpg' });
  style = await harness.fake.cdn.add(await artwork(), { filename: 'art.png' });
});
afterAll(async () => harness?.close());

const users = () => ({
  alice: harness.fake.addUser('alice'),
  bob: harness.fake.addUser('bob'),
  carol: harness.fake.addUser('carol'),
  dave: harness.fake.addUser('dave'),
  mod: harness.fake.addUser('mod'),
});

/** A job long enough to keep the queue busy until the test cancels it. */
function longJob(user: ReturnType<typeof users>['alice']): InteractionHandle {
  return harness.fake.interactions.slashCommand({
    name: 'stylize',
    user,
    options: { content, style, size: 256, iterations: 5000 },
  });
}

function jobIdOf(text: string | undefined): string {
  const id = /job `([A-Z0-9]+)`/.exec(text ?? '')?.[1];
  if (!id) throw new Error(`no job id in ${text}`);
  return id;
}

async function ephemeral(command: InteractionHandle): Promise<string> {
  const response = await command.waitForRequest((r) => r.route.includes('/callback') || r.route.startsWith('/webhooks/:app/:token') && r.method === 'POST');
  const body = response.json as { type?: number; data?: { content?: string; flags?: number }; content?: string; flags?: number };
  const data = body.data ?? body;
  expect((data.flags ?? 0) & 64).toBe(64);
  return data.content ?? '';
}

function press(command: InteractionHandle, jobId: string, user: ReturnType<typeof users>['alice'], permissions?: bigint) {
  return harness.fake.interactions.button({
    customId: `cancel:${jobId}`,
    message: command.originalMessage()!,
    user,
    ...(permissions !== undefined && { member: { permissions } }),
  });
}

describe('queue positions, limits and cancelling', () => {
  it('keeps three users in line, refuses extra requests, and cancels by owner or moderator', async () => {
    const { alice, bob, carol, dave, mod } = users();

    const a = longJob(alice);
    const aRunning = await waitForEdit(harness.fake, a, '🎨', 30_000);
    const aJob = jobIdOf(bodyOf(aRunning).content);

    const b = longJob(bob);
    const bQueued = await waitForEdit(harness.fake, b, '⏳', 30_000);
    expect(bodyOf(bQueued).content).toMatch(/next in line/);
    expect(bodyOf(bQueued).components).toHaveLength(1);
    const bJob = jobIdOf(bodyOf(bQueued).content);

    const c = longJob(carol);
    const cQueued = await waitForEdit(harness.fake, c, '⏳', 30_000);
    expect(bodyOf(cQueued).content).toMatch(/position 2 in line/);
    const cJob = jobIdOf(bodyOf(cQueued).content);

    // The per-user limit: Alice already has a job.
    expect(await ephemeral(longJob(alice))).toMatch(new RegExp(`already have a job in the queue \\(job ${aJob}\\)`));
    // The queue is full: two are waiting.
    expect(await ephemeral(longJob(dave))).toMatch(/queue is full right now \(2 jobs waiting\)/);

    // Someone else's Cancel press is refused, privately.
    const wrong = press(c, cJob, dave);
    expect(await ephemeral(wrong)).toMatch(/not yours/);

    // Bob cancels his queued job: Carol moves up.
    const bobCancels = press(b, bJob, bob);
    expect((await bobCancels.waitForResponse()).json).toMatchObject({ type: 6 });
    expect(bodyOf(await waitForEdit(harness.fake, b, '🛑', 10_000)).content).toMatch(/^🛑 Cancelled\./);
    expect(bodyOf(await waitForEdit(harness.fake, c, '⏳ Queued — next in line', 10_000)).content).toContain(cJob);

    // Alice cancels her running job: it stops and Carol's starts.
    press(a, aJob, alice);
    const aCancelled = await waitForEdit(harness.fake, a, '🛑', 20_000);
    expect(bodyOf(aCancelled).components).toEqual([]);
    await waitForEdit(harness.fake, c, '🎨', 20_000);

    // A moderator (Manage Messages) cancels Carol's running job.
    press(c, cJob, mod, MEMBER_PERMISSIONS | PermissionFlagsBits.ManageMessages);
    expect(bodyOf(await waitForEdit(harness.fake, c, '🛑', 20_000)).content).toMatch(/Cancelled by a moderator/);

    // The finished job's message has no Cancel button left to press.
    expect(bodyOf(await waitForEdit(harness.fake, c, '🛑', 1000)).components).toEqual([]);

    // /queue is empty again, and says so privately.
    const queue = harness.fake.interactions.slashCommand({ name: 'queue', user: alice });
    const summary = await ephemeral(queue);
    expect(summary).toMatch(/Running: nothing right now/);
    expect(summary).toMatch(/3 cancelled/);
    expect(harness.fake.internalErrors).toEqual([]);
  });
});
