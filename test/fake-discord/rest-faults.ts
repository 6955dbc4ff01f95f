/** Which requests a fault applies to: an HTTP method and/or a route key (see RecordedRequest.route). */
export interface FaultMatch {
  method?: string;
  route?: string;
}

export interface RateLimitOptions {
  /** How many matching requests get the 429 (default 1). */
  times?: number;
  /** Seconds, may be fractional (default 0.1). Sent in the body and, unrounded, in Retry-After. */
  retryAfter?: number;
  global?: boolean;
  scope?: 'user' | 'global' | 'shared';
}

export interface ServerErrorOptions {
  times?: number;
  /** 500 (default), 502, 503 or 504. */
  status?: number;
}

export interface DelayOptions {
  times?: number;
  /** How long the request waits before being handled. */
  ms: number;
}

export type RestFault =
  | { kind: 'rate-limit'; retryAfter: number; global: boolean; scope: 'user' | 'global' | 'shared' }
  | { kind: 'server-error'; status: number }
  | { kind: 'reset' }
  | { kind: 'delay'; ms: number };

/** What a test holds after injecting a fault: how often it fired and a way to stop it early. */
export interface FaultHandle {
  readonly hits: number;
  readonly remaining: number;
  cancel(): void;
}

interface ActiveFault {
  match: FaultMatch;
  fault: RestFault;
  times: number;
  hits: number;
}

/** Faults on demand for REST routes. Each fires for the next `times` matching requests, then retires. */
export class RestFaults {
  readonly #active: ActiveFault[] = [];

  /** 429 with `retry_after`, `global` and the full set of rate-limit headers; discord.js waits and retries. */
  rateLimit(match: FaultMatch, options: RateLimitOptions = {}): FaultHandle {
    const global = options.global ?? false;
    return this.#add(match, options.times, {
      kind: 'rate-limit',
      retryAfter: options.retryAfter ?? 0.1,
      global,
      scope: options.scope ?? (global ? 'global' : 'user'),
    });
  }

  /** A 5xx answer (discord.js retries these up to its `retries` option, 3 by default). */
  serverError(match: FaultMatch, options: ServerErrorOptions = {}): FaultHandle {
    return this.#add(match, options.times, { kind: 'server-error', status: options.status ?? 500 });
  }

  /** Destroys the connection without answering (ECONNRESET; discord.js retries). */
  reset(match: FaultMatch, options: { times?: number } = {}): FaultHandle {
    return this.#add(match, options.times, { kind: 'reset' });
  }

  /** Holds matching requests for `ms` before handling them normally (a slow Discord). */
  delay(match: FaultMatch, options: DelayOptions): FaultHandle {
    return this.#add(match, options.times, { kind: 'delay', ms: options.ms });
  }

  clear(): void {
    this.#active.length = 0;
  }

  /** The delay to apply to this request, consuming one use of the first matching delay fault. */
  takeDelay(method: string, route: string): number {
    const fault = this.#take(method, route, (f) => f.kind === 'delay');
    return fault?.kind === 'delay' ? fault.ms : 0;
  }

  /** The answer-replacing fault for this request, if any (rate limit, server error, reset). */
  takeAnswer(method: string, route: string): Exclude<RestFault, { kind: 'delay' }> | undefined {
    const fault = this.#take(method, route, (f) => f.kind !== 'delay');
    return fault?.kind === 'delay' ? undefined : fault;
  }

  #take(method: string, route: string, accept: (fault: RestFault) => boolean): RestFault | undefined {
    const found = this.#active.find(
      (a) =>
        a.hits < a.times &&
        accept(a.fault) &&
        (a.match.method === undefined || a.match.method.toUpperCase() === method) &&
        (a.match.route === undefined || a.match.route === route),
    );
    if (!found) return undefined;
    found.hits++;
    return found.fault;
  }

  #add(match: FaultMatch, times: number | undefined, fault: RestFault): FaultHandle {
    const active: ActiveFault = { match, fault, times: times ?? 1, hits: 0 };
    this.#active.push(active);
    return {
      get hits() {
        return active.hits;
      },
      get remaining() {
        return Math.max(0, active.times - active.hits);
      },
      cancel: () => {
        active.times = active.hits;
      },
    };
  }
}
