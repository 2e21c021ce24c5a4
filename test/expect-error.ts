/**
 * `expectError(fn, type, message)`: fn throws an instance of `type` whose message is exactly
 * `message` (typed-error tests: test/quant *-edges and observer-mutants, test/int8/common-checks).
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
