import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIAttachment } from 'discord.js';
import type { ChangeFeed } from './change-feed.ts';
import type { FakeClock } from './clock.ts';
import { contentTypeFor, imageSize, sanitizeFilename } from './image-size.ts';
import type { TimerSet } from './timers.ts';

/**
 * How the CDN misbehaves for one file. `times` limits the fault to the next N downloads (default: all of them).
 * - `slow`: headers at once, then `bytesPerChunk` every `intervalMs` (a trickle).
 * - `hang`: reads the request and never answers.
 * - `reset`: destroys the connection before answering (ECONNRESET at the client).
 * - `truncate`: promises the full Content-Length, sends `afterBytes`, then resets.
 * - `wrong-body`: answers 200 with other bytes (default: an HTML page) under `contentType` (default: the file's).
 * - `oversized`: sends `totalBytes` (the file padded with zeros; default 2 x size + 1 MiB), with an honest
 *   Content-Length or, with `contentLength: false`, chunked without one.
 * - `redirect`: answers `status` (302) with Location `to`: `'foreign'` (the same path on a second server on
 *   another port, i.e. another host for an allow-list) or any absolute URL.
 * - `status`: answers that HTTP status with a short text body.
 */
export type CdnFault = { times?: number } & (
  | { kind: 'slow'; bytesPerChunk?: number; intervalMs?: number }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'truncate'; afterBytes?: number }
  | { kind: 'wrong-body'; bytes?: Uint8Array; contentType?: string }
  | { kind: 'oversized'; totalBytes?: number; contentLength?: boolean }
  | { kind: 'redirect'; /** `'foreign'` (default) or an absolute URL. */ to?: string; status?: 301 | 302 | 303 | 307 | 308 }
  | { kind: 'status'; status: number; body?: string }
);

export interface CdnAddOptions {
  filename: string;
  /** Defaults from the file name's extension. */
  contentType?: string;
  /** The `size` the attachment object claims; defaults to the real byte count. */
  declaredSize?: number;
  /** Default: measured with sharp for images. */
  width?: number;
  height?: number;
  /** Slash-command uploads live under /ephemeral-attachments (the default); message files under /attachments. */
  ephemeral?: boolean;
  channelId?: string;
  description?: string;
  fault?: CdnFault;
}

/** One download the CDN (or the foreign server) served, updated as it progresses. */
export interface CdnRequest {
  seq: number;
  time: number;
  server: 'cdn' | 'foreign';
  method: string;
  /** Path and query as requested. */
  url: string;
  attachmentId: string | undefined;
  status: number | undefined;
  fault: CdnFault['kind'] | undefined;
  bytesSent: number;
  outcome: 'pending' | 'complete' | 'aborted' | 'reset';
}

interface StoredFile {
  id: string;
  bytes: Uint8Array;
  filename: string;
  contentType: string | undefined;
  channelId: string;
  ephemeral: boolean;
  fault: CdnFault | undefined;
  faultHits: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const GONE = 'This content is no longer available.';

export class FakeCdn {
  readonly #files = new Map<string, StoredFile>();
  readonly #requests: CdnRequest[] = [];
  readonly #secret = randomBytes(32);
  #seq = 1;
  /** Set by the server once both ports are known. */
  origin = '';
  foreignOrigin = '';

  constructor(
    private readonly nextId: () => string,
    private readonly clock: FakeClock,
    private readonly timers: TimerSet,
    private readonly feed: ChangeFeed,
    private readonly defaultChannelId: string,
    /** When true (the default), links without a valid, unexpired ex/is/hm signature get 404 like Discord's. */
    private readonly requireSignedUrls: boolean,
  ) {}

  /** Registers bytes as an uploaded attachment and returns the attachment object Discord would send. */
  async add(bytes: Uint8Array, options: CdnAddOptions): Promise<APIAttachment> {
    const id = this.nextId();
    const filename = sanitizeFilename(options.filename);
    const ephemeral = options.ephemeral ?? true;
    const file = this.#store(id, bytes, filename, contentTypeFor(filename, options.contentType), {
      channelId: options.channelId ?? this.defaultChannelId,
      ephemeral,
    });
    file.fault = options.fault;
    const size = options.width && options.height ? { width: options.width, height: options.height } : await imageSize(bytes);
    return this.#attachmentObject(file, options.declaredSize ?? bytes.byteLength, size, options.description);
  }

  /** Stores a file the bot uploaded in a message and returns its attachment object. */
  async addUpload(
    bytes: Uint8Array,
    filename: string,
    contentType: string | undefined,
    channelId: string,
    ephemeral: boolean,
    description: string | undefined,
  ): Promise<APIAttachment> {
    const file = this.#store(this.nextId(), bytes, sanitizeFilename(filename), contentTypeFor(filename, contentType), {
      channelId,
      ephemeral,
    });
    return this.#attachmentObject(file, bytes.byteLength, await imageSize(bytes), description);
  }

  setFault(attachment: APIAttachment | string, fault: CdnFault | null): void {
    const file = this.#files.get(typeof attachment === 'string' ? attachment : attachment.id);
    if (!file) throw new Error(`fake CDN: no attachment ${typeof attachment === 'string' ? attachment : attachment.id}`);
    file.fault = fault ?? undefined;
    file.faultHits = 0;
  }

  /** The stored bytes of an attachment (by object, id or URL). */
  bytes(attachment: APIAttachment | string): Uint8Array | undefined {
    const key = typeof attachment === 'string' ? attachment : attachment.id;
    return (this.#files.get(key) ?? this.#fileForPath(safeUrl(key)?.pathname ?? ''))?.bytes;
  }

  requests(): readonly CdnRequest[] {
    return this.#requests;
  }

  /** A fresh signed URL for a stored file, as the message or interaction payload would carry it. */
  #signedUrl(file: { id: string; filename: string; channelId: string; ephemeral: boolean }): string {
    const path = filePath(file);
    const issued = Math.floor(this.clock.now() / 1000);
    const ex = (issued + DAY_MS / 1000).toString(16);
    const is = issued.toString(16);
    return `${this.origin}${path}?ex=${ex}&is=${is}&hm=${this.#sign(path, ex, is)}&`;
  }

  #attachmentObject(
    file: StoredFile,
    size: number,
    dimensions: { width: number; height: number } | undefined,
    description: string | undefined,
  ): APIAttachment {
    const url = this.#signedUrl(file);
    const attachment: APIAttachment = { id: file.id, filename: file.filename, size, url, proxy_url: url };
    if (description !== undefined) attachment.description = description;
    if (file.contentType) attachment.content_type = file.contentType;
    if (dimensions) {
      attachment.width = dimensions.width;
      attachment.height = dimensions.height;
    }
    if (file.ephemeral) attachment.ephemeral = true;
    return attachment;
  }

  /** Serves GET/HEAD for /attachments/... and /ephemeral-attachments/...; returns false for other paths. */
  handle(req: IncomingMessage, res: ServerResponse, server: 'cdn' | 'foreign'): boolean {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (!/^\/(ephemeral-)?attachments\//.test(url.pathname)) return false;
    const record: CdnRequest = {
      seq: this.#seq++,
      time: Date.now(),
      server,
      method: req.method ?? 'GET',
      url: `${url.pathname}${url.search}`,
      attachmentId: undefined,
      status: undefined,
      fault: undefined,
      bytesSent: 0,
      outcome: 'pending',
    };
    this.#requests.push(record);
    this.feed.notify();
    const update = (changes: Partial<CdnRequest>): void => {
      if (record.outcome !== 'pending' && changes.outcome === undefined) return;
      Object.assign(record, changes);
      this.feed.notify();
    };
    res.on('close', () => {
      if (record.outcome === 'pending') update({ outcome: res.writableFinished ? 'complete' : 'aborted' });
    });

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.#text(res, 405, 'Method Not Allowed', update);
      return true;
    }
    const file = this.#fileForPath(url.pathname);
    if (!file) {
      this.#text(res, 404, 'Not Found', update);
      return true;
    }
    update({ attachmentId: file.id });
    if (server === 'cdn' && this.requireSignedUrls && !this.#validSignature(url)) {
      this.#text(res, 404, GONE, update);
      return true;
    }
    const fault = server === 'cdn' ? this.#takeFault(file) : undefined;
    if (fault) update({ fault: fault.kind });
    this.#serve(req, res, file, fault, url, update);
    return true;
  }

  #store(
    id: string,
    bytes: Uint8Array,
    filename: string,
    contentType: string | undefined,
    where: { channelId: string; ephemeral: boolean },
  ): StoredFile {
    const file: StoredFile = { id, bytes, filename, contentType, ...where, fault: undefined, faultHits: 0 };
    this.#files.set(id, file);
    return file;
  }

  #fileForPath(pathname: string): StoredFile | undefined {
    const match = /^\/(ephemeral-)?attachments\/(\d+)\/(\d+)\/([^/]+)$/.exec(pathname);
    if (!match) return undefined;
    const file = this.#files.get(match[3]!);
    if (!file || file.channelId !== match[2] || file.ephemeral !== (match[1] !== undefined)) return undefined;
    let name: string;
    try {
      name = decodeURIComponent(match[4]!);
    } catch {
      return undefined;
    }
    return name === file.filename ? file : undefined;
  }

  #sign(path: string, ex: string, is: string): string {
    return createHmac('sha256', this.#secret).update(`${path}|${ex}|${is}`).digest('hex');
  }

  #validSignature(url: URL): boolean {
    const ex = url.searchParams.get('ex');
    const is = url.searchParams.get('is');
    const hm = url.searchParams.get('hm');
    if (!ex || !is || !hm || !/^[0-9a-f]+$/.test(ex) || !/^[0-9a-f]{64}$/.test(hm)) return false;
    const expected = Buffer.from(this.#sign(url.pathname, ex, is), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(hm, 'hex'))) return false;
    return Number.parseInt(ex, 16) * 1000 > this.clock.now();
  }

  #takeFault(file: StoredFile): CdnFault | undefined {
    const fault = file.fault;
    if (!fault) return undefined;
    if (fault.times !== undefined && file.faultHits >= fault.times) return undefined;
    file.faultHits++;
    return fault;
  }

  #text(res: ServerResponse, status: number, body: string, update: (c: Partial<CdnRequest>) => void): void {
    update({ status });
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  #serve(
    req: IncomingMessage,
    res: ServerResponse,
    file: StoredFile,
    fault: CdnFault | undefined,
    url: URL,
    update: (c: Partial<CdnRequest>) => void,
  ): void {
    const head = req.method === 'HEAD';
    const contentType = file.contentType ?? 'application/octet-stream';
    const send = (status: number, headers: Record<string, string | number>, body: Uint8Array): void => {
      update({ status });
      res.writeHead(status, { 'content-type': contentType, 'content-length': body.byteLength, ...headers });
      if (head) {
        res.end();
        return;
      }
      res.end(body, () => update({ bytesSent: body.byteLength }));
    };

    switch (fault?.kind) {
      case undefined:
        send(200, { 'cache-control': 'public, max-age=31536000' }, file.bytes);
        return;
      case 'status':
        this.#text(res, fault.status, fault.body ?? `fake CDN status ${fault.status}`, update);
        return;
      case 'hang':
        return; // the socket stays open until the client gives up or the fake closes
      case 'reset':
        update({ outcome: 'reset' });
        req.socket.resetAndDestroy();
        return;
      case 'redirect': {
        const target =
          fault.to === undefined || fault.to === 'foreign' ? `${this.foreignOrigin}${url.pathname}${url.search}` : fault.to;
        update({ status: fault.status ?? 302 });
        res.writeHead(fault.status ?? 302, { location: target, 'content-length': 0 });
        res.end();
        return;
      }
      case 'wrong-body': {
        const body = fault.bytes ?? Buffer.from('<!DOCTYPE html><html><body><h1>Not the image</h1></body></html>\n');
        update({ status: 200 });
        res.writeHead(200, { 'content-type': fault.contentType ?? contentType, 'content-length': body.byteLength });
        res.end(head ? undefined : body, () => update({ bytesSent: head ? 0 : body.byteLength }));
        return;
      }
      case 'truncate': {
        const sent = Math.min(fault.afterBytes ?? Math.floor(file.bytes.byteLength / 2), file.bytes.byteLength);
        update({ status: 200 });
        res.writeHead(200, { 'content-type': contentType, 'content-length': file.bytes.byteLength });
        res.write(file.bytes.subarray(0, sent), () => {
          update({ bytesSent: sent, outcome: 'reset' });
          req.socket.resetAndDestroy();
        });
        return;
      }
      case 'slow':
        this.#trickle(res, file.bytes, fault.bytesPerChunk ?? 1024, fault.intervalMs ?? 100, head, update, contentType);
        return;
      case 'oversized':
        this.#oversized(res, file.bytes, fault, head, update, contentType);
        return;
    }
  }

  #trickle(
    res: ServerResponse,
    bytes: Uint8Array,
    chunkSize: number,
    intervalMs: number,
    head: boolean,
    update: (c: Partial<CdnRequest>) => void,
    contentType: string,
  ): void {
    update({ status: 200 });
    res.writeHead(200, { 'content-type': contentType, 'content-length': bytes.byteLength });
    if (head) {
      res.end();
      return;
    }
    let offset = 0;
    const step = (): void => {
      if (res.destroyed) return;
      const chunk = bytes.subarray(offset, offset + Math.max(1, chunkSize));
      offset += chunk.byteLength;
      update({ bytesSent: offset });
      if (offset >= bytes.byteLength) {
        res.end(chunk);
        return;
      }
      res.write(chunk);
      this.timers.later(intervalMs, step);
    };
    step();
  }

  #oversized(
    res: ServerResponse,
    bytes: Uint8Array,
    fault: { totalBytes?: number; contentLength?: boolean },
    head: boolean,
    update: (c: Partial<CdnRequest>) => void,
    contentType: string,
  ): void {
    const total = Math.max(fault.totalBytes ?? bytes.byteLength * 2 + 1024 * 1024, bytes.byteLength);
    const headers: Record<string, string | number> = { 'content-type': contentType };
    if (fault.contentLength !== false) headers['content-length'] = total;
    update({ status: 200 });
    res.writeHead(200, headers);
    if (head) {
      res.end();
      return;
    }
    const padding = Buffer.alloc(64 * 1024);
    let sent = 0;
    const pump = (): void => {
      while (sent < total && !res.destroyed) {
        const chunk =
          sent < bytes.byteLength
            ? bytes.subarray(sent, sent + padding.byteLength)
            : padding.subarray(0, Math.min(padding.byteLength, total - sent));
        sent += chunk.byteLength;
        update({ bytesSent: sent });
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    pump();
  }
}

function filePath(file: { id: string; filename: string; channelId: string; ephemeral: boolean }): string {
  const root = file.ephemeral ? 'ephemeral-attachments' : 'attachments';
  return `/${root}/${file.channelId}/${file.id}/${encodeURIComponent(file.filename)}`;
}

function safeUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
