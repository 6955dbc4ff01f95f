import { randomInt } from 'node:crypto';

/**
 * Job ids are 6 characters of Crockford base32 (no I, L, O, U): short enough to read out in a support request,
 * about a billion possible values, and forgiving when typed back (case, and O/I/L for 0/1/1).
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const JOB_ID_LENGTH = 6;

export function randomJobId(): string {
  let id = '';
  for (let i = 0; i < JOB_ID_LENGTH; i++) id += ALPHABET[randomInt(ALPHABET.length)];
  return id;
}

/** Draws ids until one is not taken. */
export function uniqueJobId(isTaken: (id: string) => boolean): string {
  for (;;) {
    const id = randomJobId();
    if (!isTaken(id)) return id;
  }
}

/**
 * Turns what a user typed ("abc-12o", " #ABC12O ") into the canonical id, or undefined when it cannot be one.
 * Safe on any input: long or odd strings are rejected before any work.
 */
export function normalizeJobId(input: string): string | undefined {
  if (typeof input !== 'string' || input.length > 32) return undefined;
  const id = input
    .toUpperCase()
    .replace(/[\s#-]/g, '')
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
  if (id.length !== JOB_ID_LENGTH) return undefined;
  for (const char of id) if (!ALPHABET.includes(char)) return undefined;
  return id;
}
