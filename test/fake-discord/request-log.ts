import type { ChangeFeed } from './change-feed.ts';

/** A file part of a multipart request, with its bytes as uploaded. */
export interface RecordedFile {
  /** Form field name, e.g. `files[0]`. */
  field: string;
  name: string;
  contentType: string;
  bytes: Buffer;
}

/** One REST request as the fake saw and answered it. */
export interface RecordedRequest {
  /** 1, 2, 3 ... in arrival order. */
  seq: number;
  /** Real time (ms since epoch) when the answer was sent. */
  time: number;
  method: string;
  /** Path below the versioned API root, e.g. `/webhooks/123/aW50.../messages/@original`. */
  path: string;
  /** Route key with parameters named, e.g. `/webhooks/:app/:token/messages/@original`; `unknown` if none. */
  route: string;
  query: Record<string, string>;
  /** Lower-cased request headers; `authorization` is replaced by `Bot [redacted]` or `[invalid]`. */
  headers: Record<string, string>;
  /** `bot` for a valid bot token, `invalid` for a wrong one, `none` without the header. */
  auth: 'bot' | 'invalid' | 'none';
  /** The JSON body, or the parsed `payload_json` of a multipart body; undefined without a body. */
  json: unknown;
  files: RecordedFile[];
  status: number;
  /** The JSON the fake answered with (undefined for 204). */
  response: unknown;
  /** The interaction this request answered or edited, if any. */
  interactionId: string | undefined;
  /** Set when an injected fault produced the answer: `rate-limit`, `server-error`, `reset`. Delays leave it unset. */
  fault: string | undefined;
}

export type RequestPredicate = (request: RecordedRequest) => boolean;

export class RequestLog {
  readonly #requests: RecordedRequest[] = [];
  #nextSeq = 1;

  constructor(private readonly feed: ChangeFeed) {}

  nextSeq(): number {
    return this.#nextSeq++;
  }

  add(request: RecordedRequest): void {
    this.#requests.push(request);
    this.feed.notify();
  }

  all(): readonly RecordedRequest[] {
    return this.#requests;
  }

  to(method: string, route: string): RecordedRequest[] {
    const upper = method.toUpperCase();
    return this.#requests.filter((r) => r.method === upper && r.route === route);
  }

  /** The first request, past or future, that matches. */
  waitFor(predicate: RequestPredicate, timeoutMs: number): Promise<RecordedRequest> {
    return this.feed.waitUntil(
      () => this.#requests.find(predicate),
      timeoutMs,
      () => `a matching request; the last ones were:\n${this.describeLast(8)}`,
    );
  }

  describeLast(count: number): string {
    const last = this.#requests.slice(-count);
    if (last.length === 0) return '  (no requests yet)';
    return last.map((r) => `  #${r.seq} ${r.method} ${r.route} -> ${r.status}`).join('\n');
  }
}
