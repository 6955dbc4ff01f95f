import type { RecordedFile } from './request-log.ts';

export interface RestContext {
  method: string;
  params: Record<string, string>;
  query: URLSearchParams;
  json: unknown;
  files: RecordedFile[];
  /** Ties the request to an interaction in the log, so `handle.requests()` finds it. */
  setInteraction(id: string): void;
}

export interface RestReply {
  status: number;
  body?: unknown;
}

export type RestHandler = (ctx: RestContext) => RestReply | Promise<RestReply>;

export interface RouteDef {
  method: string;
  /** Route key: `/webhooks/:app/:token/messages/@original`; `:name` segments are parameters. */
  route: string;
  /** `bot` routes need `Authorization: Bot <token>`; `none` routes (webhooks, callbacks) ignore it. */
  auth: 'bot' | 'none';
  handler: RestHandler;
}

export type RouteMatch =
  | { kind: 'found'; def: RouteDef; params: Record<string, string> }
  | { kind: 'wrong-method'; route: string }
  | { kind: 'none' };

/** First route whose pattern matches the path and method; literal segments win when listed first. */
export function matchRoute(routes: RouteDef[], method: string, path: string): RouteMatch {
  // Clients percent-encode segments (discord.js sends `%40original`), so match on decoded ones.
  const segments = path.split('/').filter(Boolean).map(decodeSegment);
  let pathMatched: string | undefined;
  for (const def of routes) {
    const params = matchPattern(def.route, segments);
    if (!params) continue;
    if (def.method === method) return { kind: 'found', def, params };
    pathMatched ??= def.route;
  }
  return pathMatched ? { kind: 'wrong-method', route: pathMatched } : { kind: 'none' };
}

function matchPattern(route: string, segments: string[]): Record<string, string> | undefined {
  const parts = route.split('/').filter(Boolean);
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, part] of parts.entries()) {
    const segment = segments[index]!;
    if (part.startsWith(':')) params[part.slice(1)] = segment;
    else if (part !== segment) return undefined;
  }
  return params;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
