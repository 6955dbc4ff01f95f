import zlib from 'node:zlib';
import WebSocket from 'ws';

export interface GatewayPayload {
  op: number;
  d: unknown;
  s: number | null;
  t: string | null;
}

/**
 * A bare gateway client for tests of the fake's protocol handling (close codes, zlib-stream, resume) where
 * discord.js would hide the details. Not a bot: it heartbeats only when told to.
 */
export class RawGatewayClient {
  readonly payloads: GatewayPayload[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #waiters = new Set<() => void>();

  private constructor(private readonly ws: WebSocket, compressed: boolean) {
    const inflate = compressed ? zlib.createInflate() : undefined;
    let pending: Buffer[] = [];
    inflate?.on('data', (chunk: Buffer) => {
      pending.push(chunk);
    });
    ws.on('message', (data: Buffer, isBinary) => {
      if (!inflate) {
        this.#push(JSON.parse(data.toString('utf8')) as GatewayPayload);
        return;
      }
      if (!isBinary) throw new Error('expected binary frames with zlib-stream');
      inflate.write(data);
      inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        const text = Buffer.concat(pending).toString('utf8');
        pending = [];
        if (text) this.#push(JSON.parse(text) as GatewayPayload);
      });
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        inflate?.close();
        resolve({ code, reason: reason.toString('utf8') });
        this.#notify();
      });
    });
  }

  static connect(url: string): Promise<RawGatewayClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const client = new RawGatewayClient(ws, url.includes('compress=zlib-stream'));
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  send(payload: unknown): void {
    this.ws.send(typeof payload === 'string' ? payload : JSON.stringify(payload));
  }

  /** The first payload (received so far or later) that matches. */
  next(predicate: (payload: GatewayPayload) => boolean, timeoutMs = 2000): Promise<GatewayPayload> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.payloads.find(predicate);
        if (!found) return;
        cleanup();
        resolve(found);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching gateway payload; got ${JSON.stringify(this.payloads.map((p) => [p.op, p.t]))}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  dispatch(event: string, timeoutMs = 2000): Promise<GatewayPayload> {
    return this.next((p) => p.op === 0 && p.t === event, timeoutMs);
  }

  /** IDENTIFY and wait for READY. */
  async identify(token: string, intents = 1): Promise<{ session_id: string; resume_gateway_url: string }> {
    this.send({ op: 2, d: { token, intents, properties: { os: 'linux', browser: 'raw', device: 'raw' } } });
    return (await this.dispatch('READY')).d as { session_id: string; resume_gateway_url: string };
  }

  /** The sequence number of the last dispatch received. */
  get lastSeq(): number {
    return this.payloads.filter((p) => p.op === 0).at(-1)?.s ?? 0;
  }

  close(code = 1000): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code);
    else if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    return this.closed;
  }

  #push(payload: GatewayPayload): void {
    this.payloads.push(payload);
    this.#notify();
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
