/**
 * `expectError(fn, type, message)`: fn throws an instance of `type` whose message is exactly
 * `message` (the typed-error tests of the quantizers: *-edges.test.ts, observer-mutants.test.ts).
 */
import { expect } from "vitest";

export function expectError(fn: () => unknown, type: new (...a: never[]) => Error, message: string): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, message).toBeInstanceOf(type);
  expect((caught as Error).message).toBe(message);
}
