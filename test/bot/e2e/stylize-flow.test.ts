import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { InteractionHandle, RecordedRequest } from '../../fake-discord/index.ts';
import { artwork, bodyOf, ORIGINAL_EDITS, photo, startHarness, waitForEdit, type Harness } from './harness.ts';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('/stylize end to end', () => {
  it('defers, starts at once, shows progress with a preview, and posts a PNG of the requested size', async () => {
    harness = await startHarness();
    const { fake } = harness;
    const content = await fake.cdn.add(await photo(160, 120), { filename: 'photo.jpg' });
    const style = await fake.cdn.add(await artwork(), { filename: 'art.png' });
    const command = fake.interactions.slashCommand({
      name: 'stylize',
      options: { content, style, size: 256, iterations: 120 },
    });

    expect((await command.waitForResponse()).json).toMatchObject({ type: 5 });
    const final = await waitForEdit(fake, command, '✅');
    const done = command.originalMessage()!;

    // Nothing else waits, so the job starts at once: no queued state, and one job id from start to end.
    const started = await waitForEdit(fake, command, '🎨 Stylizing at', 1000);
    const jobId = /job `([0-9A-Z]{6})`$/.exec(bodyOf(started).content ?? '')?.[1];
    expect(bodyOf(started).content).toBe(`🎨 Stylizing at 256 px, up to 120 iterations — starting · job \`${jobId}\``);
    expect(bodyOf(started).components).toMatchObject([{ components: [{ custom_id: `cancel:${jobId}`, label: 'Cancel' }] }]);
    const contents = done.revisions.map((r) => r.content).filter(Boolean);
    expect(contents[0]).toBe('📥 Fetching your images…');
    expect(contents.some((c) => c.startsWith('⏳'))).toBe(false);
    for (const c of contents.slice(1)) expect(c).toContain(`job \`${jobId}\``);
    // The Guilds intent only: no privileged intents, no message content.
    expect(fake.gateway.identifies().map((i) => i.intents)).toEqual([1]);
    const edits = fake.requestsTo('PATCH', ORIGINAL_EDITS);
    const progressEdits = edits.filter((r) => (bodyOf(r).content ?? '').includes('iteration '));
    expect(progressEdits.length).toBeGreaterThan(0);
    const preview = progressEdits.find((r) => r.files.length > 0)!;
    expect(preview.files[0]!.name).toMatch(/^preview\.(jpg|webp)$/);
    const previewMeta = await sharp(preview.files[0]!.bytes).metadata();
    expect(Math.max(previewMeta.width, previewMeta.height)).toBeLessThanOrEqual(384);

    expect(edits.at(-1)).toBe(final);
    expect(final.files).toHaveLength(1);
    const meta = await sharp(final.files[0]!.bytes).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height]).toEqual([256, 192]);
    // No Cancel any more: the remix buttons instead (remix.test.ts presses them).
    expect(bodyOf(final).components).toMatchObject([
      { type: 1, components: ['again', 'stronger', 'softer', 'colors', 'bigger'].map((a) => ({ custom_id: `remix:${a}:${jobId}` })) },
    ]);
    expect(done.data.content).toMatch(/256×192 · 120 iterations/);
    expect(done.ephemeral).toBe(false);
    expect(fake.internalErrors).toEqual([]);
  });

  it('blends several styles with the user’s options and falls back to JPEG under a small upload limit', async () => {
    harness = await startHarness();
    const { fake } = harness;
    const content = await fake.cdn.add(await photo(200, 150, 'png'), { filename: 'photo.png' });
    const style = await fake.cdn.add(await artwork(), { filename: 'a.png' });
    const style2 = await fake.cdn.add(await artwork(96, 160), { filename: 'b.png' });
    const command = fake.interactions.slashCommand({
      name: 'stylize',
      attachmentSizeLimit: 40_000,
      options: {
        content,
        style,
        style2,
        style_blend: '1,3',
        size: 256,
        iterations: 40,
        style_weight: 1000,
        content_weight: 2,
        tv_weight: 0.01,
        style_scale: 0.5,
        preserve_colors: true,
        seed: 7,
      },
    });
    const final = await waitForEdit(fake, command, '✅');
    const file = final.files[0]!;
    expect(file.bytes.length).toBeLessThanOrEqual(40_000);
    const meta = await sharp(file.bytes).metadata();
    expect(meta.format).toBe('jpeg');
    expect(file.name).toBe('stylized.jpg');
    expect(bodyOf(final).content).toMatch(
      /⚙️ size:256 strength:50 iterations:40 content_weight:2 style_weight:1000 tv_weight:0\.01 style_blend:1,3 style_scale:0\.5 preserve_colors:true seed:7\n/,
    );
    expect(bodyOf(final).content).toContain('🖼️ uploaded image “a.png” + uploaded image “b.png”');
    expect(bodyOf(final).content).toMatch(/JPEG/);
  });

  it('shows a job that really waits as queued, with its place and a Cancel button, until its turn comes', async () => {
    harness = await startHarness({ MAX_ITERATIONS: '5000' });
    const { fake } = harness;
    const content = await fake.cdn.add(await photo(), { filename: 'photo.jpg' });
    const style = await fake.cdn.add(await artwork(), { filename: 'art.png' });
    const ask = (username: string, iterations: number) =>
      fake.interactions.slashCommand({ name: 'stylize', user: { username }, options: { content, style, size: 128, iterations } });
    const jobOf = (edit: RecordedRequest) => /job `([0-9A-Z]{6})`/.exec(bodyOf(edit).content ?? '')![1]!;
    const cancel = (command: InteractionHandle, jobId: string, username: string) =>
      fake.interactions.button({ customId: `cancel:${jobId}`, message: command.originalMessage()!, user: { username } });

    const first = ask('ann', 5000);
    const firstJob = jobOf(await waitForEdit(fake, first, '🎨', 30_000));
    const second = ask('ben', 5000);
    const secondJob = jobOf(await waitForEdit(fake, second, '⏳', 30_000));
    const third = ask('cat', 20);
    const queued = await waitForEdit(fake, third, '⏳', 30_000);
    const thirdJob = jobOf(queued);
    expect(bodyOf(queued).content).toBe(`⏳ Queued — position 2 in line · job \`${thirdJob}\``);
    expect(bodyOf(queued).components).toMatchObject([
      { type: 1, components: [{ type: 2, custom_id: `cancel:${thirdJob}`, label: 'Cancel', style: 4 }] },
    ]);

    // The line moves: the first job is cancelled, the second starts, the third is next.
    cancel(first, firstJob, 'ann');
    await waitForEdit(fake, second, '🎨', 20_000);
    const next = await waitForEdit(fake, third, '⏳ Queued — next in line', 20_000);
    expect(bodyOf(next).components).toHaveLength(1);
    cancel(second, secondJob, 'ben');
    const started = await waitForEdit(fake, third, '🎨 Stylizing at', 20_000);
    expect(bodyOf(started).content).toContain(`job \`${thirdJob}\``);
    const done = await waitForEdit(fake, third, '✅', 30_000);
    expect(bodyOf(done).content).toContain(`20 iterations`);
    expect(JSON.stringify(bodyOf(done).components)).not.toContain('cancel:');
  });
});
