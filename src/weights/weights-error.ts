import { UserFacingError } from '../errors/user-facing-error.ts';

/**
 * Weights that cannot be used: missing, unreachable, truncated, the wrong file or the wrong shapes. The message
 * names the file or URL and what is wrong, in one line an admin can act on; the bot refuses to start with it and
 * `npm run weights` prints it.
 */
export class WeightsError extends UserFacingError {}
