import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttachmentError, downloadAttachment } from '../../src/bot/attachments.ts';
import { isAllowedUrl } from '../../src/bot/stylize-options.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(handler: Handler): Promise<{ server: Server; host: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const body = Buffer.alloc(3000, 7);
let cdn: { server: Server; host: string };
let other: { server: Server; host: string };

beforeAll(async () => {
  other = await listen((_req, res) => res.end(body));
  cdn = await listen((req, res) => {
    switch (req.url) {
      case '/ok':
        res.setHeader('content-length', body.length).end(body);
        return;
      case '/chunked-big':
        res.writeHead(200);
        for (let i = 0; i < 10; i++) res.write(body);
        res.end();
        return;
      case '/declared-big':
        res.writeHead(200, { 'content-length': String(10 * body.length) });
        res.end(Buffer.alloc(10 * body.length));
        return;
      case '/redirect-inside':
        res.writeHead(302, { location: '/ok' }).end();
        return;
      case '/redirect-outside':
        res.writeHead(302, { location: `http://${other.host}/x` }).end();
        return;
      case '/loop':
        res.writeHead(302, { location: '/loop' }).end();
        return;
      case '/missing':
        res.writeHead(404).end('no');
        return;
      case '/slow':
        res.writeHead(200);
        res.write(body.subarray(0, 10)); // then never finishes
        return;
      default:
        res.writeHead(500).end();
    }
  });
});

afterAll(async () => {
  for (const s of [cdn.server, other.server]) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

const limits = () => ({ allowedHosts: [cdn.host], maxBytes: 4000, timeoutMs: 2000 });

describe('downloadAttachment', () => {
  it('downloads from an allowed host', async () => {
    const bytes = await downloadAttachment(`http://${cdn.host}/ok`, limits(), 'content');
    expect(Buffer.from(bytes).equals(body)).toBe(true);
  });

  it('follows a redirect that stays on an allowed host', async () => {
    const bytes = await downloadAttachment(`http://${cdn.host}/redirect-inside`, limits(), 'content');
    expect(bytes.byteLength).toBe(body.length);
  });

  it('refuses a redirect to a host that is not allowed', async () => {
    await expect(downloadAttachment(`http://${cdn.host}/redirect-outside`, limits(), 'style')).rejects.toThrow(
      /style attachment is not hosted on Discord/,
    );
  });

  it('refuses a disallowed host before connecting', async () => {
    await expect(downloadAttachment(`http://${other.host}/x`, limits(), 'content')).rejects.toBeInstanceOf(AttachmentError);
  });

  it('stops a body larger than the cap while streaming, with or without Content-Length', async () => {
    await expect(downloadAttachment(`http://${cdn.host}/chunked-big`, limits(), 'content')).rejects.toThrow(
      /larger than 4 KB/,
    );
    await expect(downloadAttachment(`http://${cdn.host}/declared-big`, limits(), 'content')).rejects.toThrow(
      /larger than 4 KB/,
    );
  });

  it('refuses early on a declared Content-Length over the cap', async () => {
    await expect(downloadAttachment(`http://${cdn.host}/ok`, { ...limits(), maxBytes: 50 }, 'content')).rejects.toThrow(
      /content image is larger than 50 bytes/,
    );
  });

  it('names HTTP errors, redirect loops and time-outs', async () => {
    await expect(downloadAttachment(`http://${cdn.host}/missing`, limits(), 'content')).rejects.toThrow(/HTTP 404/);
    await expect(downloadAttachment(`http://${cdn.host}/loop`, limits(), 'content')).rejects.toThrow(/redirects too often/);
    await expect(
      downloadAttachment(`http://${cdn.host}/slow`, { ...limits(), timeoutMs: 300 }, 'style2'),
    ).rejects.toThrow(/Downloading the style2 attachment took longer than/);
  });
});

describe('isAllowedUrl', () => {
  const hosts = ['cdn.discordapp.com', '127.0.0.1:5000'];
  it.each([
    ['https://cdn.discordapp.com/attachments/1/2/a.png', true],
    ['https://cdn.discordapp.com:8443/a.png', true],
    ['http://127.0.0.1:5000/a.png', true],
    ['http://127.0.0.1:5001/a.png', false],
    ['https://evil.com/cdn.discordapp.com/a.png', false],
    ['https://cdn.discordapp.com.evil.com/a.png', false],
    ['https://user:pw@cdn.discordapp.com/a.png', false],
    ['file:///etc/passwd', false],
    ['ftp://cdn.discordapp.com/a.png', false],
  ])('%s -> %s', (url, expected) => {
    expect(isAllowedUrl(new URL(url), hosts)).toBe(expected);
  });
});
