import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * Holds a credential so that it cannot leak by accident: string conversion, JSON, util.inspect and
 * console.log all print "[redacted]". Only `reveal()` gives the value, and only the Discord login calls it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
