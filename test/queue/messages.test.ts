import { describe, expect, it } from 'vitest';
import { normalizeJobId, randomJobId } from '../../src/queue/job-id.ts';
import { durationInWords, ordinal, queueFullMessage, timeoutMessage } from '../../src/queue/messages.ts';

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
    expect(durationInWords(30_000)).toBe('30 seconds');
    expect(durationInWords(900_000)).toBe('15 minutes');
    expect(durationInWords(60_000 * 60)).toBe('60 minutes');
    expect(durationInWords(86_400_000)).toBe('24 hours');
    expect(timeoutMessage(900_000)).toBe(
      'Your job reached its time limit of 15 minutes before it had an image to show, so it was stopped.',
    );
  });

  it('tell a refused user how long the line is and where they would have stood', () => {
    expect(queueFullMessage(20)).toBe(
      'The queue is full right now (20 jobs waiting, you would be 21st). Please try again in a few minutes.',
    );
    expect(queueFullMessage(1)).toBe(
      'The queue is full right now (1 job waiting, you would be 2nd). Please try again in a few minutes.',
    );
    const cases: Array<[number, string]> = [
      [1, '1st'], [2, '2nd'], [3, '3rd'], [4, '4th'], [11, '11th'], [12, '12th'], [13, '13th'],
      [21, '21st'], [22, '22nd'], [23, '23rd'], [101, '101st'], [111, '111th'], [112, '112th'], [1000, '1000th'],
    ];
    for (const [n, text] of cases) expect(ordinal(n), String(n)).toBe(text);
  });
});
