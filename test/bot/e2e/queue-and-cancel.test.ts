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

/** The latest text of a command's public message. */
const latest = (command: InteractionHandle) => command.originalMessage()?.data.content ?? '';

describe('queue positions, limits and cancelling', () => {
  it('keeps three users who ask at once in line, refuses extra requests, and cancels by owner or moderator', async () => {
    const { alice, bob, carol, dave, mod } = users();

    // All three are dispatched before anything is awaited: they download side by side and reach the queue in
    // whatever order their downloads finish, so the roles are read from the messages.
    const owners = new Map<InteractionHandle, ReturnType<typeof users>['alice']>();
    for (const user of [alice, bob, carol]) owners.set(longJob(user), user);
    const commands = [...owners.keys()];
    const roles = await harness.fake.waitUntil(
      () => {
        const running = commands.find((c) => latest(c).startsWith('🎨'));
        const next = commands.find((c) => latest(c).startsWith('⏳ Queued — next in line'));
        const second = commands.find((c) => latest(c).startsWith('⏳ Queued — position 2 in line'));
        return running && next && second && { running, next, second };
      },
      30_000,
      'one job running, one next in line, one second in line',
    );
    const { running, next, second } = roles;
    const runningJob = jobIdOf(latest(running));
    const nextJob = jobIdOf(latest(next));
    const secondJob = jobIdOf(latest(second));
    for (const c of [next, second]) expect(c.originalMessage()!.data.components).toHaveLength(1);

    // /queue while a job runs: its progress, how many wait, and the caller's own place.
    await harness.fake.waitUntil(() => latest(running).includes('iteration '), 20_000, 'a progress edit');
    const status = await ephemeral(harness.fake.interactions.slashCommand({ name: 'queue', user: owners.get(second)! }));
    expect(status).toMatch(
      new RegExp(`Running: job \`${runningJob}\` for <@${owners.get(running)!.id}> at 256 px — \`[█░]{12}\` \\d+% \\(\\d+/5000\\)`),
    );
    expect(status).toMatch(/Waiting: 2 jobs/);
    expect(status).toContain(`Your jobs: \`${secondJob}\` position 2`);

    // The per-user limit: the running job's owner already has a job.
    expect(await ephemeral(longJob(owners.get(running)!))).toMatch(
      new RegExp(`already have a job in the queue \\(job ${runningJob}\\)`),
    );
    // The queue is full: two are waiting.
    expect(await ephemeral(longJob(dave))).toMatch(/queue is full right now \(2 jobs waiting/);

    // Someone else's Cancel press is refused, privately.
    expect(await ephemeral(press(second, secondJob, dave))).toMatch(/not yours/);

    // The next in line cancels: the one behind moves up.
    const nextCancels = press(next, nextJob, owners.get(next)!);
    expect((await nextCancels.waitForResponse()).json).toMatchObject({ type: 6 });
    expect(bodyOf(await waitForEdit(harness.fake, next, '🛑', 10_000)).content).toMatch(/^🛑 Cancelled\./);
    expect(bodyOf(await waitForEdit(harness.fake, second, '⏳ Queued — next in line', 10_000)).content).toContain(secondJob);

    // The running job's owner cancels it: it stops and the last one starts.
    press(running, runningJob, owners.get(running)!);
    expect(bodyOf(await waitForEdit(harness.fake, running, '🛑', 20_000)).components).toEqual([]);
    await waitForEdit(harness.fake, second, '🎨', 20_000);

    // A moderator (Manage Messages) cancels it while it runs.
    press(second, secondJob, mod, MEMBER_PERMISSIONS | PermissionFlagsBits.ManageMessages);
    expect(bodyOf(await waitForEdit(harness.fake, second, '🛑', 20_000)).content).toMatch(/Cancelled by a moderator/);

    // The finished job's message has no Cancel button left to press.
    expect(second.originalMessage()!.data.components).toEqual([]);
    expect(() => press(second, secondJob, owners.get(second)!)).toThrow(/has no button/);

    // /queue is empty again, and says so privately.
    const summary = await ephemeral(harness.fake.interactions.slashCommand({ name: 'queue', user: alice }));
    expect(summary).toMatch(/Running: nothing right now/);
    expect(summary).toMatch(/Your jobs: none/);
    expect(summary).toMatch(/3 cancelled/);
    expect(harness.fake.internalErrors).toEqual([]);
  });
});
