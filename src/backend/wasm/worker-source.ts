/**
 * Source of one pool worker, as a string so the same code runs from src/ and dist/ with no
 * file path: Node starts it with `new Worker(source, { eval: true, workerData })`, browsers
 * from a Blob URL (a classic Web Worker) and hand it the same init object in its first
 * message. The worker instantiates the kernel module on the shared memory, marks itself
 * ready, then loops: spin on its slot's sequence number for a while, sleep in Atomics.wait
 * when idle (allowed in workers, also in browsers), run the job (an export index and numeric
 * arguments), publish `done = seq` and wake the main thread. Slot layout: see ./threads.ts.
 * Node's worker_threads is looked up by a variable name (process.getBuiltinModule), so the
 * package bundles for browsers without a `node:` import. Used by ./threads.ts.
 */

/** The loop, shared by both hosts: `init` = { module, memory, control, slot, names, spinLimit }. */
const LOOP = `
function runPoolWorker(init) {
  const { module, memory, control, slot, names, spinLimit } = init;
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const fns = names.map((n) => instance.exports[n]);
  const I = new Int32Array(control);
  const F = new Float64Array(control);
  const base = slot * 64;
  const argBase = slot * 32 + 4;
  Atomics.store(I, base + 5, 1);
  let last = 0;
  for (;;) {
    let seq = Atomics.load(I, base);
    for (let spins = 0; seq === last; spins++) {
      if (spins > spinLimit) {
        Atomics.wait(I, base, last);
        spins = 0;
      }
      seq = Atomics.load(I, base);
    }
    last = seq;
    const fn = I[base + 2];
    if (fn < 0) break;
    const args = [];
    for (let i = 0, n = I[base + 3]; i < n; i++) args.push(F[argBase + i]);
    let failed = 0;
    try {
      fns[fn](...args);
    } catch (e) {
      failed = 1;
    }
    Atomics.store(I, base + 4, failed);
    Atomics.store(I, base + 1, seq);
    Atomics.notify(I, base + 1);
  }
}
`;

/** Node (worker_threads, eval: true): the init object arrives as workerData. */
export const WORKER_SOURCE = `${LOOP}
const WORKER_THREADS = "node:worker_threads";
const { workerData } = typeof process.getBuiltinModule === "function" ? process.getBuiltinModule(WORKER_THREADS) : require(WORKER_THREADS);
runPoolWorker(workerData);
`;

/**
 * Browsers (a classic Web Worker from a Blob URL): the init object is the first message. The
 * worker never returns to its event loop afterwards (it sleeps in Atomics.wait), which is
 * what a kernel thread should do.
 */
export const BROWSER_WORKER_SOURCE = `${LOOP}
self.onmessage = (ev) => {
  self.onmessage = null;
  runPoolWorker(ev.data);
};
`;
