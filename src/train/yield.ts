/**
 * Yielding to the event loop between training steps (Trainer.fitAsync): `scheduler.yield()`
 * where the host has it (Chromium ≥ 129: continues ahead of other tasks), else `setImmediate`
 * (Node), else one shared MessageChannel (browsers; no 4 ms clamp, unlike nested
 * setTimeout), else setTimeout(0). Browser-safe. Called by ./trainer.ts.
 */

interface Port {
  onmessage: ((ev: unknown) => void) | null;
  postMessage(m: unknown): void;
}
type Channel = new () => { port1: Port; port2: Port };

const g = globalThis as unknown as {
  scheduler?: { yield?: () => Promise<void> };
  setImmediate?: (f: () => void) => unknown;
  MessageChannel?: Channel;
};

let channel: { port1: Port; port2: Port } | null = null;
const waiting: (() => void)[] = [];

function viaChannel(C: Channel): Promise<void> {
  if (!channel) {
    channel = new C();
    channel.port1.onmessage = () => waiting.shift()?.();
  }
  const ch = channel;
  return new Promise((resolve) => {
    waiting.push(resolve);
    ch.port2.postMessage(null);
  });
}

/** Resolves on a later turn of the event loop, letting rendering, input and timers run. */
export function yieldToEventLoop(): Promise<void> {
  if (typeof g.scheduler?.yield === "function") return g.scheduler.yield();
  if (typeof g.setImmediate === "function") {
    const si = g.setImmediate;
    return new Promise((resolve) => si(resolve));
  }
  if (typeof g.MessageChannel === "function") return viaChannel(g.MessageChannel);
  return new Promise((resolve) => setTimeout(resolve, 0));
}
