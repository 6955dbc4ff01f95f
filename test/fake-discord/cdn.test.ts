import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeDiscord, type FakeDiscord } from './index.ts';

// The attachment CDN: signed links, and every way a download can go wrong.

let fake: FakeDiscord;
beforeEach(async () => {
  fake = await startFakeDiscord();
});
afterEach(async () => {
  await fake.close();
});

const bytes = (n: number) => new Uint8Array(Buffer.alloc(n, 7));

async function download(url: string, init: RequestInit = {}): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const response = await fetch(url, { redirect: 'manual', ...init });
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()), headers: response.headers };
}

describe('CDN', () => {
  it('serves registered files under signed links that expire after 24 hours', async () => {
    const image = await sharp({ create: { width: 30, height: 20, channels: 3, background: 'white' } }).jpeg().toBuffer();
    const attachment = await fake.cdn.add(image, { filename: 'my photo.jpg', declaredSize: 999 });

    expect(attachment).toMatchObject({
      filename: 'my_photo.jpg',
      size: 999,
      content_type: 'image/jpeg',
      width: 30,
      height: 20,
      ephemeral: true,
    });
    const url = new URL(attachment.url);
    expect(url.host).toBe(fake.cdnHost);
    expect(url.pathname).toBe(`/ephemeral-attachments/${fake.channel.id}/${attachment.id}/my_photo.jpg`);
    expect([...url.searchParams.keys()]).toEqual(['ex', 'is', 'hm']);

    const ok = await download(attachment.url);
    expect([ok.status, ok.headers.get('content-type'), ok.body.equals(image)]).toEqual([200, 'image/jpeg', true]);
    const head = await download(attachment.url, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), head.body.byteLength]).toEqual([200, String(image.byteLength), 0]);

    const unsigned = await download(`${url.origin}${url.pathname}`);
    expect([unsigned.status, unsigned.body.toString()]).toEqual([404, 'This content is no longer available.']);
    const tampered = await download(attachment.url.replace(/hm=([0-9a-f])/, (_m, c: string) => `hm=${c === '0' ? '1' : '0'}`));
    expect(tampered.status).toBe(404);
    expect((await download(attachment.url.replace('my_photo.jpg', 'other.jpg'))).status).toBe(404);

    fake.clock.advance(25 * 60 * 60 * 1000);
    expect((await download(attachment.url)).status).toBe(404);
    expect(fake.cdn.requests().map((r) => r.status)).toEqual([200, 200, 404, 404, 404, 404]);
  });

  it('trickles a slow download and lets a hanging one be aborted', async () => {
    const slow = await fake.cdn.add(bytes(500), { filename: 'slow.png', fault: { kind: 'slow', bytesPerChunk: 100, intervalMs: 20 } });
    const started = Date.now();
    const result = await download(slow.url);
    expect(result.body.byteLength).toBe(500);
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);

    const hung = await fake.cdn.add(bytes(10), { filename: 'hang.png', fault: { kind: 'hang' } });
    const error = await download(hung.url, { signal: AbortSignal.timeout(150) }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('TimeoutError');
    await fake.waitUntil(() => fake.cdn.requests().at(-1)?.outcome === 'aborted');
  });

  it('resets, truncates, or answers with an error status or a wrong body', async () => {
    const reset = await fake.cdn.add(bytes(10), { filename: 'r.png', fault: { kind: 'reset' } });
    const resetError = (await download(reset.url).catch((e: unknown) => e)) as TypeError & { cause?: { code?: string } };
    expect(resetError.cause?.code).toBe('ECONNRESET');

    const truncated = await fake.cdn.add(bytes(1000), { filename: 't.png', fault: { kind: 'truncate', afterBytes: 300 } });
    const response = await fetch(truncated.url);
    expect(response.headers.get('content-length')).toBe('1000');
    await expect(response.arrayBuffer()).rejects.toThrow();

    const broken = await fake.cdn.add(bytes(10), { filename: 'b.png', fault: { kind: 'status', status: 503, times: 1 } });
    expect((await download(broken.url)).status).toBe(503);
    expect((await download(broken.url)).status).toBe(200);

    const wrong = await fake.cdn.add(bytes(10), { filename: 'w.png', fault: { kind: 'wrong-body' } });
    const html = await download(wrong.url);
    expect([html.status, html.headers.get('content-type'), html.body.toString().startsWith('<!DOCTYPE html>')]).toEqual([200, 'image/png', true]);
    expect(fake.cdn.requests().map((r) => r.fault)).toEqual(['reset', 'truncate', 'status', undefined, 'wrong-body']);
  });

  it('sends more bytes than declared, with or without Content-Length', async () => {
    const declared = await fake.cdn.add(bytes(100), { filename: 'o.png', fault: { kind: 'oversized', totalBytes: 300_000 } });
    const withLength = await download(declared.url);
    expect([withLength.headers.get('content-length'), withLength.body.byteLength]).toEqual(['300000', 300_000]);
    expect(withLength.body.subarray(0, 100).equals(Buffer.alloc(100, 7))).toBe(true);

    fake.cdn.setFault(declared, { kind: 'oversized', totalBytes: 200_000, contentLength: false });
    const chunked = await download(declared.url);
    expect([chunked.headers.get('content-length'), chunked.headers.get('transfer-encoding'), chunked.body.byteLength]).toEqual([
      null,
      'chunked',
      200_000,
    ]);
  });

  it('redirects to another host (a second port) that serves the file without a signature', async () => {
    const attachment = await fake.cdn.add(bytes(42), { filename: 'x.png', fault: { kind: 'redirect' } });
    const first = await download(attachment.url);
    expect(first.status).toBe(302);
    const location = new URL(first.headers.get('location')!);
    expect(location.origin).toBe(fake.foreignOrigin);
    expect(location.host).not.toBe(fake.cdnHost);

    const followed = await download(location.href);
    expect([followed.status, followed.body.byteLength]).toEqual([200, 42]);
    expect(fake.cdn.requests().map((r) => [r.server, r.status])).toEqual([
      ['cdn', 302],
      ['foreign', 200],
    ]);

    fake.cdn.setFault(attachment, { kind: 'redirect', to: 'http://169.254.169.254/latest/meta-data', status: 307 });
    const explicit = await download(attachment.url);
    expect([explicit.status, explicit.headers.get('location')]).toEqual([307, 'http://169.254.169.254/latest/meta-data']);
  });
});
