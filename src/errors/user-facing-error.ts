/**
 * An error whose message is safe and useful to show to a Discord user or on the CLI's stderr: short, kind,
 * and free of internals. Each module subclasses it for its own failures; anything else is an internal error
 * and users see only a generic line with a job id.
 */
export class UserFacingError extends Error {
  constructor(
    readonly userMessage: string,
    options?: { cause?: unknown },
  ) {
    super(userMessage, options);
    this.name = new.target.name;
  }
}

export function isUserFacing(error: unknown): error is UserFacingError {
  return error instanceof UserFacingError;
}
