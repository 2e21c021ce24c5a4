/**
 * `expectError(fn, type, message, what?)`: fn throws an instance of `type` whose message is
 * exactly `message`; `what` labels a failure (the message by default). Typed-error tests:
 * test/quant *-edges and observer-mutants, test/int8/common-checks, boundary-params, layer-errors.
 */
import { expect } from "vitest";

export function expectError(fn: () => unknown, type: new (...a: never[]) => Error, message: string, what = message): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, what).toBeInstanceOf(type);
  expect((caught as Error).message, what).toBe(message);
}
