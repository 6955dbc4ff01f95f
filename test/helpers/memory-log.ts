import { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';

/** A log destination that keeps each JSON line, for tests that assert what was (and was not) logged. */
export function memoryDestination(): { stream: DestinationStream; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines };
}
