import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { artwork, bodyOf, ORIGINAL_EDITS, photo, startHarness, waitForEdit, type Harness } from './harness.ts';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('/stylize end to end', () => {
  it('defers, queues, shows progress with a preview, and posts a PNG of the requested size', async () => {
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

    const contents = done.revisions.map((r) => r.content);
    expect(contents.some((c) => c.includes('Queued') || c.includes('Stylizing at'))).toBe(true);
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
    expect(bodyOf(final).components).toEqual([]);
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
    expect(bodyOf(final).content).toMatch(/weights: content 2 · style 1000 · tv 0\.01/);
    expect(bodyOf(final).content).toMatch(/JPEG/);
  });
});
