/**
 * Removes credentials from text before it is logged: the bot token wherever it appears, and the interaction
 * or webhook tokens that discord.js puts into request URLs and error messages.
 */
const ROUTE_TOKENS = /\/(interactions|webhooks)\/(\d+)\/[\w.-]{20,}/g;
const BOT_AUTH = /\bBot\s+[\w-]+\.[\w-]+\.[\w-]+/g;

export function makeScrubber(secrets: readonly string[]): (text: string) => string {
  const known = secrets.filter((s) => s.length >= 8);
  return (text) => {
    let out = text.replace(ROUTE_TOKENS, '/$1/$2/[redacted]').replace(BOT_AUTH, 'Bot [redacted]');
    for (const secret of known) out = out.split(secret).join('[redacted]');
    return out;
  };
}

/** Applies `scrub` to every string inside a log object, turning errors into plain objects, without mutating it. */
export function scrubDeep(value: unknown, scrub: (text: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (value === null || typeof value !== 'object' || depth > 6) return value;
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, scrub, depth + 1));
  const out: Record<string, unknown> = {};
  if (value instanceof Error) {
    out.type = value.name;
    out.message = scrub(value.message);
    if (value.stack) out.stack = scrub(value.stack);
    if (value.cause !== undefined) out.cause = scrubDeep(value.cause, scrub, depth + 1);
  }
  for (const [key, v] of Object.entries(value)) out[key] = scrubDeep(v, scrub, depth + 1);
  return out;
}
