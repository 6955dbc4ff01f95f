import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DiscordHttpError, discordErrors } from './discord-errors.ts';
import { parseBody, readBody } from './http-body.ts';
import type { RestFault, RestFaults } from './rest-faults.ts';
import { matchRoute, type RouteDef } from './rest-router.ts';
import type { RecordedFile, RecordedRequest, RequestLog } from './request-log.ts';
import type { TimerSet } from './timers.ts';

export interface RestServerOptions {
  routes: RouteDef[];
  token: string;
  log: RequestLog;
  faults: RestFaults;
  timers: TimerSet;
  /** Add informational X-RateLimit-* headers to successful answers. */
  rateLimitHeaders: boolean;
  maxRequestBytes: number;
  /** Unexpected exceptions in the fake itself; tests of the fake assert this stays empty. */
  internalErrors: Error[];
}

type Answer = { status: number; body: unknown; headers: Record<string, string> } | { reset: true };

/** Handles one request below `/api/v10`: route, auth, faults, handler, answer, record. */
export async function handleRest(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: URLSearchParams,
  options: RestServerOptions,
): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const match = matchRoute(options.routes, method, path);
  const route = match.kind === 'none' ? 'unknown' : match.kind === 'found' ? match.def.route : match.route;
  const header = req.headers.authorization;
  const auth: RecordedRequest['auth'] = header === `Bot ${options.token}` ? 'bot' : header ? 'invalid' : 'none';
  const record: RecordedRequest = {
    seq: options.log.nextSeq(),
    time: 0,
    method,
    path,
    route,
    query: Object.fromEntries(query),
    headers: redactedHeaders(req, auth),
    auth,
    json: undefined,
    files: [],
    status: 0,
    response: undefined,
    interactionId: undefined,
    fault: undefined,
  };

  const answer = await answerFor(req, method, route, query, match, auth, record, options);
  record.time = Date.now();
  if ('reset' in answer) {
    record.fault = 'reset';
    options.log.add(record);
    req.socket.resetAndDestroy();
    return;
  }
  record.status = answer.status;
  record.response = answer.body;
  options.log.add(record);
  const headers: Record<string, string> = { ...answer.headers };
  if (options.rateLimitHeaders && answer.status < 300) Object.assign(headers, okRateLimitHeaders(route));
  if (answer.body === undefined) {
    res.writeHead(answer.status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(answer.body);
  res.writeHead(answer.status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function answerFor(
  req: IncomingMessage,
  method: string,
  route: string,
  query: URLSearchParams,
  match: ReturnType<typeof matchRoute>,
  auth: RecordedRequest['auth'],
  record: RecordedRequest,
  options: RestServerOptions,
): Promise<Answer> {
  try {
    const raw = await readBody(req, options.maxRequestBytes);
    if (raw === 'too-large') throw discordErrors.requestEntityTooLarge();
    if (match.kind === 'none') throw discordErrors.notFound();
    if (match.kind === 'wrong-method') throw discordErrors.methodNotAllowed();
    if (match.def.auth === 'bot' && auth !== 'bot') throw discordErrors.unauthorized();

    let json: unknown;
    let files: RecordedFile[] = [];
    let parseError: DiscordHttpError | undefined;
    try {
      ({ json, files } = await parseBody(req.headers['content-type'], raw));
    } catch (error) {
      if (!(error instanceof DiscordHttpError)) throw error;
      parseError = error;
    }
    record.json = json;
    record.files = files;

    const delay = options.faults.takeDelay(method, route);
    if (delay > 0) await options.timers.sleep(delay);
    const fault = options.faults.takeAnswer(method, route);
    if (fault) return faultAnswer(fault, route, record);
    if (parseError) throw parseError;

    const reply = await match.def.handler({
      method,
      params: match.params,
      query,
      json,
      files,
      setInteraction: (id) => {
        record.interactionId = id;
      },
    });
    return { status: reply.status, body: reply.body, headers: {} };
  } catch (error) {
    if (error instanceof DiscordHttpError) return { status: error.status, body: error.body, headers: {} };
    const internal = error instanceof Error ? error : new Error(String(error));
    options.internalErrors.push(internal);
    return { status: 500, body: { message: `fake Discord internal error: ${internal.message}`, code: 0 }, headers: {} };
  }
}

function faultAnswer(fault: Exclude<RestFault, { kind: 'delay' }>, route: string, record: RecordedRequest): Answer {
  record.fault = fault.kind;
  if (fault.kind === 'reset') return { reset: true };
  if (fault.kind === 'server-error') {
    return { status: fault.status, body: { message: `${fault.status}: Internal Server Error`, code: 0 }, headers: {} };
  }
  const resetAt = Date.now() / 1000 + fault.retryAfter;
  const headers: Record<string, string> = {
    'retry-after': String(fault.retryAfter),
    'x-ratelimit-limit': '5',
    'x-ratelimit-remaining': '0',
    'x-ratelimit-reset': resetAt.toFixed(3),
    'x-ratelimit-reset-after': fault.retryAfter.toFixed(3),
    'x-ratelimit-bucket': bucketHash(route),
    'x-ratelimit-scope': fault.scope,
  };
  if (fault.global) headers['x-ratelimit-global'] = 'true';
  return {
    status: 429,
    body: { message: 'You are being rate limited.', retry_after: fault.retryAfter, global: fault.global },
    headers,
  };
}

/** Static, informational bucket headers: enough for discord.js to learn the bucket, never enough to make it wait. */
function okRateLimitHeaders(route: string): Record<string, string> {
  return {
    'x-ratelimit-limit': '5',
    'x-ratelimit-remaining': '4',
    'x-ratelimit-reset': (Date.now() / 1000 + 1).toFixed(3),
    'x-ratelimit-reset-after': '1.000',
    'x-ratelimit-bucket': bucketHash(route),
  };
}

function bucketHash(route: string): string {
  return createHash('sha1').update(route).digest('hex').slice(0, 32);
}

function redactedHeaders(req: IncomingMessage, auth: RecordedRequest['auth']): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  if (headers.authorization !== undefined) headers.authorization = auth === 'bot' ? 'Bot [redacted]' : '[invalid]';
  return headers;
}
