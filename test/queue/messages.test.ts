import { describe, expect, it } from 'vitest';
import { normalizeJobId, randomJobId } from '../../src/queue/job-id.ts';
import { formatDuration, timeoutMessage } from '../../src/queue/messages.ts';

describe('job ids', () => {
  it('are 6 Crockford base32 characters and read back however they are typed', () => {
    for (let i = 0; i < 200; i++) {
      const id = randomJobId();
      expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{6}$/);
      expect(normalizeJobId(id.toLowerCase())).toBe(id);
    }
    expect(normalizeJobId('ab-cd-ef')).toBe('ABCDEF');
    expect(normalizeJobId(' #0O1IlL ')).toBe('001111');
    expect(normalizeJobId('ABCDE')).toBeUndefined();
    expect(normalizeJobId('ABCDEU')).toBeUndefined();
    expect(normalizeJobId('x'.repeat(10_000))).toBeUndefined();
    expect(normalizeJobId(42 as unknown as string)).toBeUndefined();
  });
});

describe('messages', () => {
  it('say time limits the way people say them', () => {
    expect(formatDuration(30_000)).toBe('30 seconds');
    expect(formatDuration(900_000)).toBe('15 minutes');
    expect(formatDuration(60_000 * 60)).toBe('60 minutes');
    expect(formatDuration(86_400_000)).toBe('24 hours');
    expect(timeoutMessage(900_000)).toBe(
      'Your job reached its time limit of 15 minutes before it had an image to show, so it was stopped.',
    );
  });
});
