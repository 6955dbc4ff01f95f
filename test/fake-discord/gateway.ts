import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ChangeFeed } from './change-feed.ts';
import type { World } from './world.ts';

const Op = {
  Dispatch: 0,
  Heartbeat: 1,
  Identify: 2,
  PresenceUpdate: 3,
  VoiceStateUpdate: 4,
  Resume: 6,
  Reconnect: 7,
  RequestGuildMembers: 8,
  InvalidSession: 9,
  Hello: 10,
  HeartbeatAck: 11,
  RequestSoundboardSounds: 31,
} as const;

/** Privileged intents: GuildMembers, GuildPresences, MessageContent. */
export const PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15);
const ALL_INTENTS = (1 << 26) - 1;
const GUILDS_INTENT = 1 << 0;
/** Close codes after which Discord will not resume the session. */
const SESSION_ENDING_CODES = new Set([1000, 1001, 4001, 4003, 4004, 4005, 4007, 4009, 4010, 4011, 4012, 4013, 4014]);
const REPLAY_LIMIT = 10_000;
const SYNC_FLUSH_SUFFIX = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export interface GatewayOptions {
  token: string;
  heartbeatIntervalMs: number;
  /** Privileged intents the application has enabled in its settings (bitmask); others close with 4014. */
  enabledPrivilegedIntents: number;
  world: World;
  feed: ChangeFeed;
  nextSessionId: () => string;
}

/** One WebSocket connection, as a test can inspect it afterwards. */
export interface GatewayConnection {
  id: number;
  /** Path and query the client connected with, e.g. `/gateway?v=10&encoding=json`. */
  url: string;
  compress: 'zlib-stream' | undefined;
  openedAt: number;
  closedAt: number | undefined;
  closeCode: number | undefined;
  /** Who closed it: the fake (drop, protocol error) or the client. */
  closedBy: 'server' | 'client' | undefined;
  identified: boolean;
  resumed: boolean;
  heartbeats: number;
}

/** An IDENTIFY as received, minus the token. */
export interface IdentifyRecord {
  time: number;
  connectionId: number;
  intents: number;
  properties: unknown;
  shard: unknown;
  compress: unknown;
  largeThreshold: unknown;
  presence: unknown;
}

export interface ResumeRecord {
  time: number;
  connectionId: number;
  sessionId: string;
  seq: number;
  outcome: 'resumed' | 'invalid-session' | 'invalid-seq';
  replayed: number;
}

export interface DropOptions {
  /** Close code; default 4000 (unknown error, resumable). */
  code?: number;
  reason?: string;
  /** Destroy the TCP connection without a close frame (the client sees 1006). */
  abrupt?: boolean;
}

interface Session {
  id: string;
  seq: number;
  events: { s: number; text: string }[];
  connection: Live | undefined;
  valid: boolean;
}

interface Live {
  ws: WebSocket;
  record: GatewayConnection;
  session: Session | undefined;
  deflate: zlib.Deflate | undefined;
  sendChain: Promise<void>;
}

/**
 * The gateway WebSocket (JSON encoding, optional zlib-stream): HELLO, IDENTIFY -> READY + GUILD_CREATE,
 * heartbeats and ACKs, RESUME with replay of missed events -> RESUMED, INVALID_SESSION, RECONNECT, and Discord's
 * close codes for protocol errors. Tests dispatch events and break the connection on demand.
 */
export class FakeGateway {
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #sessions: Session[] = [];
  readonly #live = new Set<Live>();
  readonly #connections: GatewayConnection[] = [];
  readonly #identifies: IdentifyRecord[] = [];
  readonly #resumes: ResumeRecord[] = [];
  #nextConnectionId = 1;
  #readyCount = 0;
  #failNext = 0;
  #failStatus = 503;
  /** Set false to stop answering heartbeats, so the client sees a zombie connection and reconnects. */
  ackHeartbeats = true;
  /** Base like `ws://127.0.0.1:1234`, set once the server listens. */
  origin = '';

  constructor(private readonly options: GatewayOptions) {}

  /** The URL GET /gateway/bot hands out. */
  get url(): string {
    return `${this.origin}/gateway`;
  }

  /** The `resume_gateway_url` in READY: a different path, so tests can see discord.js uses it. */
  get resumeUrl(): string {
    return `${this.origin}/gateway/resume`;
  }

  connections(): readonly GatewayConnection[] {
    return this.#connections;
  }

  identifies(): readonly IdentifyRecord[] {
    return this.#identifies;
  }

  resumes(): readonly ResumeRecord[] {
    return this.#resumes;
  }

  /** Sessions started since the fake began (READY payloads sent). */
  get readyCount(): number {
    return this.#readyCount;
  }

  /** The current session id, if a valid session exists. */
  get sessionId(): string | undefined {
    return this.#validSessions().at(-1)?.id;
  }

  /** Handles an HTTP upgrade; returns false for paths that are not the gateway. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname !== '/gateway' && url.pathname !== '/gateway/resume') return false;
    if (this.#failNext > 0) {
      this.#failNext--;
      socket.end(`HTTP/1.1 ${this.#failStatus} Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return true;
    }
    const encoding = url.searchParams.get('encoding') ?? 'json';
    const compress = url.searchParams.get('compress');
    if (encoding !== 'json' || (compress !== null && compress !== 'zlib-stream')) {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return true;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#open(ws, url, compress === 'zlib-stream'));
    return true;
  }

  /** Sends an event to every live session (buffered for resume while disconnected). Returns its sequence number. */
  dispatch(event: string, data: unknown): number {
    const sessions = this.#validSessions();
    if (sessions.length === 0) {
      throw new Error('fake Discord: no gateway session; log the client in and await fake.waitForReady() first');
    }
    let seq = 0;
    for (const session of sessions) seq = this.#dispatchTo(session, event, data);
    return seq;
  }

  /** Closes every open connection from the server side; by default with 4000, which clients resume after. */
  dropConnection(options: DropOptions | number = {}): void {
    const { code = 4000, reason = 'fake Discord dropped the connection', abrupt = false } =
      typeof options === 'number' ? { code: options } : options;
    for (const live of [...this.#live]) {
      live.record.closedBy = 'server';
      if (abrupt) {
        live.ws.terminate();
        continue;
      }
      if (SESSION_ENDING_CODES.has(code) && live.session) live.session.valid = false;
      live.ws.close(code, reason);
    }
  }

  /** Sends op 9; with `resumable: false` the session is gone and the client must identify again. */
  invalidateSession(resumable = false): void {
    for (const live of this.#live) {
      if (!resumable && live.session) live.session.valid = false;
      this.#send(live, { op: Op.InvalidSession, d: resumable, s: null, t: null });
    }
  }

  /** Sends op 7 RECONNECT: the client closes and resumes. */
  requestReconnect(): void {
    for (const live of this.#live) this.#send(live, { op: Op.Reconnect, d: null, s: null, t: null });
  }

  /** Sends op 1: the client must heartbeat at once. */
  requestHeartbeat(): void {
    for (const live of this.#live) this.#send(live, { op: Op.Heartbeat, d: null, s: null, t: null });
  }

  /** Refuses the next `count` WebSocket handshakes with an HTTP error (a gateway outage). */
  failNextConnections(count: number, status = 503): void {
    this.#failNext = count;
    this.#failStatus = status;
  }

  waitForReady(options: { count?: number; timeoutMs?: number } = {}): Promise<void> {
    const count = options.count ?? 1;
    return this.options.feed
      .waitUntil(() => this.#readyCount >= count, options.timeoutMs ?? 5000, () => `READY #${count} (sent ${this.#readyCount})`)
      .then(() => undefined);
  }

  waitForResume(options: { count?: number; timeoutMs?: number } = {}): Promise<ResumeRecord> {
    const count = options.count ?? 1;
    return this.options.feed.waitUntil(
      () => this.#resumes.filter((r) => r.outcome === 'resumed')[count - 1],
      options.timeoutMs ?? 5000,
      () => `RESUMED #${count} (resume attempts: ${JSON.stringify(this.#resumes.map((r) => r.outcome))})`,
    );
  }

  /** Closes every connection; used by the fake's close(). */
  close(): void {
    for (const live of this.#live) live.ws.terminate();
    this.#live.clear();
    this.#wss.close();
  }

  #validSessions(): Session[] {
    return this.#sessions.filter((s) => s.valid);
  }

  #open(ws: WebSocket, url: URL, compress: boolean): void {
    const record: GatewayConnection = {
      id: this.#nextConnectionId++,
      url: `${url.pathname}${url.search}`,
      compress: compress ? 'zlib-stream' : undefined,
      openedAt: Date.now(),
      closedAt: undefined,
      closeCode: undefined,
      closedBy: undefined,
      identified: false,
      resumed: false,
      heartbeats: 0,
    };
    const live: Live = {
      ws,
      record,
      session: undefined,
      deflate: compress ? zlib.createDeflate().on('error', () => undefined) : undefined,
      sendChain: Promise.resolve(),
    };
    this.#connections.push(record);
    this.#live.add(live);
    ws.on('message', (data, isBinary) => this.#onMessage(live, data, isBinary));
    ws.on('close', (code) => {
      this.#live.delete(live);
      live.deflate?.close();
      record.closedAt = Date.now();
      record.closeCode = code;
      record.closedBy ??= 'client';
      if (live.session?.connection === live) {
        live.session.connection = undefined;
        if (record.closedBy === 'client' && SESSION_ENDING_CODES.has(code)) live.session.valid = false;
      }
      this.options.feed.notify();
    });
    ws.on('error', () => undefined);
    this.options.feed.notify();

    if (url.searchParams.get('v') !== '10') {
      this.#closeWith(live, 4012, 'Invalid API version');
      return;
    }
    this.#send(live, {
      op: Op.Hello,
      d: { heartbeat_interval: this.options.heartbeatIntervalMs, _trace: ['["fake-discord-gateway",{"micros":0}]'] },
      s: null,
      t: null,
    });
  }

  #onMessage(live: Live, data: WebSocket.RawData, isBinary: boolean): void {
    let payload: { op?: unknown; d?: unknown };
    try {
      if (isBinary) throw new Error('binary frames are ETF, which the fake does not speak');
      payload = JSON.parse(rawText(data)) as { op?: unknown; d?: unknown };
      if (typeof payload !== 'object' || payload === null) throw new Error('not an object');
    } catch {
      this.#closeWith(live, 4002, 'Error while decoding payload.');
      return;
    }
    const authenticated = live.session !== undefined;
    switch (payload.op) {
      case Op.Heartbeat:
        live.record.heartbeats++;
        if (this.ackHeartbeats) this.#send(live, { op: Op.HeartbeatAck, d: null, s: null, t: null });
        this.options.feed.notify();
        return;
      case Op.Identify:
        if (authenticated) this.#closeWith(live, 4005, 'Already authenticated.');
        else this.#identify(live, payload.d);
        return;
      case Op.Resume:
        if (authenticated && live.record.resumed) this.#closeWith(live, 4005, 'Already authenticated.');
        else this.#resume(live, payload.d);
        return;
      case Op.PresenceUpdate:
      case Op.VoiceStateUpdate:
      case Op.RequestGuildMembers:
      case Op.RequestSoundboardSounds:
        if (!authenticated) this.#closeWith(live, 4003, 'Not authenticated.');
        return;
      default:
        this.#closeWith(live, authenticated ? 4001 : 4003, authenticated ? 'Unknown opcode.' : 'Not authenticated.');
    }
  }

  #identify(live: Live, d: unknown): void {
    const identify = (typeof d === 'object' && d !== null ? d : {}) as Record<string, unknown>;
    if (identify.token !== this.options.token && identify.token !== `Bot ${this.options.token}`) {
      this.#closeWith(live, 4004, 'Authentication failed.');
      return;
    }
    const intents = identify.intents;
    if (typeof intents !== 'number' || !Number.isInteger(intents) || intents < 0 || (intents & ~ALL_INTENTS) !== 0) {
      this.#closeWith(live, 4013, 'Invalid intent(s).');
      return;
    }
    if ((intents & PRIVILEGED_INTENTS & ~this.options.enabledPrivilegedIntents) !== 0) {
      this.#closeWith(live, 4014, 'Disallowed intent(s).');
      return;
    }
    const shard = identify.shard;
    if (shard !== undefined && (!Array.isArray(shard) || shard[1] !== 1 || shard[0] !== 0)) {
      this.#closeWith(live, 4010, 'Invalid shard.');
      return;
    }
    this.#identifies.push({
      time: Date.now(),
      connectionId: live.record.id,
      intents,
      properties: identify.properties,
      shard,
      compress: identify.compress,
      largeThreshold: identify.large_threshold,
      presence: identify.presence,
    });

    // A new session replaces the ones nobody can resume any more.
    for (const old of this.#sessions) if (!old.connection) old.valid = false;
    const session: Session = { id: this.options.nextSessionId(), seq: 0, events: [], connection: live, valid: true };
    this.#sessions.push(session);
    live.session = session;
    live.record.identified = true;

    const { world } = this.options;
    this.#dispatchTo(session, 'READY', {
      v: 10,
      user: world.botUser,
      user_settings: {},
      guilds: [{ id: world.guildId, unavailable: true }],
      session_id: session.id,
      session_type: 'normal',
      resume_gateway_url: this.resumeUrl,
      shard: [0, 1],
      application: { id: world.applicationId, flags: 0 },
      private_channels: [],
      relationships: [],
      presences: [],
      guild_join_requests: [],
      geo_ordered_rtc_regions: [],
      auth: {},
      _trace: ['["fake-discord-gateway",{"micros":0}]'],
    });
    this.#readyCount++;
    if (intents & GUILDS_INTENT) this.#dispatchTo(session, 'GUILD_CREATE', world.guildCreate());
    this.options.feed.notify();
  }

  #resume(live: Live, d: unknown): void {
    const resume = (typeof d === 'object' && d !== null ? d : {}) as Record<string, unknown>;
    if (resume.token !== this.options.token && resume.token !== `Bot ${this.options.token}`) {
      this.#closeWith(live, 4004, 'Authentication failed.');
      return;
    }
    const sessionId = String(resume.session_id);
    const seq = typeof resume.seq === 'number' ? resume.seq : -1;
    const session = this.#sessions.find((s) => s.id === sessionId && s.valid);
    const log = (outcome: ResumeRecord['outcome'], replayed = 0): void => {
      this.#resumes.push({ time: Date.now(), connectionId: live.record.id, sessionId, seq, outcome, replayed });
      this.options.feed.notify();
    };
    if (!session) {
      log('invalid-session');
      this.#send(live, { op: Op.InvalidSession, d: false, s: null, t: null });
      return;
    }
    if (seq < 0 || seq > session.seq) {
      log('invalid-seq');
      session.valid = false;
      this.#closeWith(live, 4007, 'Invalid seq.');
      return;
    }
    if (session.connection && session.connection !== live) session.connection.ws.terminate();
    session.connection = live;
    live.session = session;
    live.record.resumed = true;
    const missed = session.events.filter((e) => e.s > seq);
    for (const event of missed) this.#sendText(live, event.text);
    this.#dispatchTo(session, 'RESUMED', { _trace: ['["fake-discord-gateway",{"micros":0}]'] });
    log('resumed', missed.length);
  }

  #dispatchTo(session: Session, event: string, data: unknown): number {
    session.seq++;
    const text = JSON.stringify({ op: Op.Dispatch, t: event, s: session.seq, d: data });
    session.events.push({ s: session.seq, text });
    if (session.events.length > REPLAY_LIMIT) session.events.shift();
    if (session.connection) this.#sendText(session.connection, text);
    this.options.feed.notify();
    return session.seq;
  }

  #send(live: Live, payload: unknown): void {
    this.#sendText(live, JSON.stringify(payload));
  }

  /** Sends in order; with zlib-stream every payload ends in a sync flush, as Discord's do. */
  #sendText(live: Live, text: string): void {
    const { deflate, ws } = live;
    if (!deflate) {
      if (ws.readyState === ws.OPEN) ws.send(text);
      return;
    }
    live.sendChain = live.sendChain.then(
      () =>
        new Promise<void>((resolve) => {
          if (ws.readyState !== ws.OPEN) {
            resolve();
            return;
          }
          const chunks: Buffer[] = [];
          const onData = (chunk: Buffer): void => {
            chunks.push(chunk);
            const out = Buffer.concat(chunks);
            if (out.subarray(-4).equals(SYNC_FLUSH_SUFFIX)) {
              deflate.off('data', onData);
              if (ws.readyState === ws.OPEN) ws.send(out);
              resolve();
            }
          };
          deflate.on('data', onData);
          deflate.write(text);
          deflate.flush(zlib.constants.Z_SYNC_FLUSH);
        }),
    );
  }

  #closeWith(live: Live, code: number, reason: string): void {
    live.record.closedBy = 'server';
    if (SESSION_ENDING_CODES.has(code) && live.session) live.session.valid = false;
    // Let queued (compressed) payloads go out before the close frame.
    void live.sendChain.then(() => live.ws.close(code, reason));
  }
}

function rawText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
