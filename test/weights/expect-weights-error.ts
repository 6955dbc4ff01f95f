import { expect } from 'vitest';
import { WeightsError } from '../../src/weights/weights-error.ts';

/** Awaits a rejection and checks it is one WeightsError line containing every fragment. */
export async function expectWeightsError(
  promise: Promise<unknown>,
  ...fragments: (string | RegExp)[]
): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected a WeightsError').toBeInstanceOf(WeightsError);
  const message = (error as WeightsError).userMessage;
  expect(message).not.toContain('\n');
  for (const fragment of fragments) {
    if (typeof fragment === 'string') expect(message).toContain(fragment);
    else expect(message).toMatch(fragment);
  }
  return message;
}
