import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the server answers one path. */
export interface Route {
  status?: number;
  body?: Uint8Array | string;
  headers?: Record<string, string>;
  /** Sends a 302 to this path or URL instead. */
  redirectTo?: string;
  /** Sends the headers and this many body bytes, then closes the connection. */
  cutAfter?: number;
  /** Sends the headers and this many body bytes, then waits `pauseMs` (or until `holdUntil`) before the rest. */
  pauseAfter?: number;
  pauseMs?: number;
  /** With `pauseAfter`: the rest of the body is sent once this settles, so a test decides when a download ends. */
  holdUntil?: Promise<unknown>;
  /** Never answers (the client must time out). */
  hang?: boolean;
}

export interface LoopbackServer {
  url(pathname: string): string;
  route(pathname: string, route: Route): void;
  /** Requests per path. */
  hits(pathname: string): number;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 serving fixtures, with the failure modes the weights download must survive. */
export async function startLoopbackServer(): Promise<LoopbackServer> {
  const routes = new Map<string, Route>();
  const counts = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    counts.set(pathname, (counts.get(pathname) ?? 0) + 1);
    const route = routes.get(pathname);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    if (route.hang) return;
    if (route.redirectTo) {
      res.writeHead(302, { location: route.redirectTo }).end();
      return;
    }
    const body = typeof route.body === 'string' ? Buffer.from(route.body) : Buffer.from(route.body ?? new Uint8Array());
    res.writeHead(route.status ?? 200, {
      'content-type': 'application/octet-stream',
      'content-length': String(body.length),
      ...route.headers,
    });
    if (route.cutAfter !== undefined) {
      // Closed a moment after the bytes, as a dropped connection mid-download looks to the client.
      res.write(body.subarray(0, route.cutAfter));
      const timer = setTimeout(() => {
        timers.delete(timer);
        res.socket?.end();
      }, 100);
      timers.add(timer);
      return;
    }
    if (route.pauseAfter !== undefined && route.holdUntil) {
      res.write(body.subarray(0, route.pauseAfter));
      void route.holdUntil.finally(() => res.end(body.subarray(route.pauseAfter)));
      return;
    }
    if (route.pauseAfter !== undefined) {
      res.write(body.subarray(0, route.pauseAfter));
      const timer = setTimeout(() => {
        timers.delete(timer);
        res.end(body.subarray(route.pauseAfter));
      }, route.pauseMs ?? 0);
      timers.add(timer);
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (pathname) => `http://127.0.0.1:${port}${pathname}`,
    route: (pathname, route) => routes.set(pathname, route),
    hits: (pathname) => counts.get(pathname) ?? 0,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
