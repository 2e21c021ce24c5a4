/**
 * `capture(model, examples)`: op-level tracing of a Module into a Graph (./graph.ts), the
 * TypeScript counterpart of torch.export / torch.fx symbolic tracing.
 *
 * The model runs once on the examples (eval mode, no gradients, restored afterwards) while
 * two recorders listen:
 *  - every *atomic* module call (a leaf module, a class with `static traceAtomic = true`, or
 *    whatever `opts.atomic` says) becomes one `call_module` node, and the ops inside it are
 *    not recorded;
 *  - every other op call from user code — functional `ops.add`, `x.reshape(...)`, `concat`,
 *    `matmul`, … (the capturable ops of src/ops/captured.ts) — becomes one `call_function`
 *    node with its literal arguments.
 * A tensor an op reads that no node produced is a parameter or buffer of the model (a
 * `get_attr` node, so training still updates it) or a tensor made inside forward (a
 * `constant`). A forward that reads tensor values (`item()`, `toArray()`, …: control flow
 * on data that a graph cannot follow) fails with a CaptureError naming the value's producer.
 * Called by src/quant/prepare.ts, src/onnx/export.ts and user code.
 */
import { CaptureError } from "../tensor/errors.js";
import { noGrad } from "../tensor/grad-mode.js";
import { Tensor } from "../tensor/tensor.js";
import { atCaptureTop, enterOpaque, exitOpaque, setOpListener } from "../tensor/capture-hook.js";
import type { HookHandle, Module } from "../nn/module.js";
import { type Arg, Graph, type GraphNode } from "./graph.js";

export interface CaptureOptions {
  /** Which modules become one node (default: leaves and classes with `traceAtomic`). */
  atomic?: (m: Module, path: string) => boolean;
  /** Capture the root module itself as one call_module node with target "" (default false). */
  rootAtomic?: boolean;
  /** Runs the model (default: `forwardAll` when the module has one, else `forward`). */
  run?: (model: Module, inputs: Tensor[]) => Tensor | Tensor[];
}

/** True for modules captured as one node by default. */
export function isAtomicModule(m: Module): boolean {
  const flag = (m.constructor as { traceAtomic?: boolean }).traceAtomic;
  return flag ?? m.children().length === 0;
}

/** Ops whose shape argument may hold the batch size, which then follows the input's batch. */
const SHAPE_ARG_OPS = new Set(["reshape", "broadcastTo"]);

class Recorder {
  readonly graph = new Graph();
  private readonly ids = new Map<Tensor, number>();
  private readonly attrs = new Map<Tensor, string>();
  private readonly attrNodes = new Map<string, number>();
  private batch: number | null = null;

  constructor(model: Module) {
    for (const [path, t] of model.namedParameters()) this.attrs.set(t, path);
    for (const [path, t] of model.namedBuffers()) this.attrs.set(t, path);
  }

  input(x: Tensor): void {
    const id = this.graph.addValue(x.shape, x.dtype);
    this.ids.set(x, id);
    this.graph.inputs.push(id);
    this.batch = this.batch === null || this.batch === x.shape[0] ? (x.shape[0] ?? null) : -1;
  }

  /** The node that produced `t`, for messages. */
  producerName(t: Tensor): string | null {
    const id = this.ids.get(t);
    if (id === undefined) return null;
    const n = this.graph.producer(id);
    return n ? `${n.kind === "call_module" ? "module" : "op"} '${n.target}' (node ${n.name})` : "a graph input";
  }

  isCaptured(t: Tensor): boolean {
    return this.ids.has(t) && !this.attrs.has(t);
  }

  /** A reference to `t`: its value, a get_attr for a parameter/buffer, else a constant. */
  private ref(t: Tensor): Arg {
    const known = this.ids.get(t);
    if (known !== undefined) return { ref: known };
    const path = this.attrs.get(t);
    if (path !== undefined) {
      let id = this.attrNodes.get(path);
      if (id === undefined) {
        id = this.graph.addValue(t.shape, t.dtype);
        this.graph.addNode({ kind: "get_attr", target: path, args: [], outputs: [id], name: path.replace(/\./g, "_") });
        this.attrNodes.set(path, id);
      }
      return { ref: id };
    }
    const id = this.graph.addValue(t.shape, t.dtype);
    const key = `_const_${this.graph.constants.size}`;
    this.graph.constants.set(key, t);
    this.graph.addNode({ kind: "constant", target: key, args: [], outputs: [id], name: key });
    this.ids.set(t, id);
    return { ref: id };
  }

  private toArg(x: unknown, where: string): Arg {
    if (x instanceof Tensor) return this.ref(x);
    if (x === null || x === undefined || typeof x === "number" || typeof x === "string" || typeof x === "boolean") return x;
    if (Array.isArray(x)) return x.map((v) => this.toArg(v, where));
    if (typeof x === "object" && Object.getPrototypeOf(x) === Object.prototype) {
      return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, this.toArg(v, where)]));
    }
    const kind = typeof x === "object" ? (x as object).constructor.name : typeof x;
    throw new CaptureError(`capture: ${where} received an argument of type ${kind}, which a graph cannot hold; pass tensors, numbers, strings or plain objects`);
  }

  private outputs(out: unknown, where: string): number[] {
    const list = Array.isArray(out) ? out : [out];
    return list.map((t) => {
      if (!(t instanceof Tensor)) throw new CaptureError(`capture: ${where} returned ${typeof t === "object" ? "an object" : typeof t}, not a tensor`);
      const id = this.graph.addValue(t.shape, t.dtype);
      this.ids.set(t, id);
      return id;
    });
  }

  op(name: string, rawArgs: readonly unknown[], out: unknown): void {
    const where = `op '${name}'`;
    let args = rawArgs.map((a) => this.toArg(a, where));
    if (SHAPE_ARG_OPS.has(name)) args = this.markBatch(args, rawArgs);
    this.graph.addNode({ kind: "call_function", target: name, args, outputs: this.outputs(out, where) });
  }

  /** reshape(x, [N, …]) with N the captured batch size: N follows x's batch on replay. */
  private markBatch(args: Arg[], raw: readonly unknown[]): Arg[] {
    const x = raw[0];
    const shape = args[1];
    if (!(x instanceof Tensor) || !Array.isArray(shape) || this.batch === null || this.batch < 1) return args;
    if (shape[0] !== this.batch || x.shape[0] !== this.batch) return args;
    return [args[0], [{ batchOf: (args[0] as { ref: number }).ref }, ...shape.slice(1)], ...args.slice(2)];
  }

  module(path: string, rawArgs: readonly unknown[], out: unknown): GraphNode {
    const where = `module '${path}'`;
    const args = rawArgs.map((a) => this.toArg(a, where));
    return this.graph.addNode({ kind: "call_module", target: path, args, outputs: this.outputs(out, where), name: path });
  }

  finish(out: Tensor | Tensor[]): Graph {
    const list = Array.isArray(out) ? out : [out];
    this.graph.outputs = list.map((t) => {
      const r = this.ref(t) as { ref: number };
      return r.ref;
    });
    return this.graph;
  }
}

const VALUE_READERS = ["item", "toArray", "toList", "toFloat32Array"] as const;

/** Makes reading a captured tensor's values from user code a CaptureError while `fn` runs. */
function guardValueReads<T>(rec: Recorder, fn: () => T): T {
  const proto = Tensor.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const saved = VALUE_READERS.map((k) => proto[k]);
  VALUE_READERS.forEach((k, i) => {
    const orig = saved[i];
    proto[k] = function (this: Tensor, ...a: unknown[]) {
      if (atCaptureTop() && rec.isCaptured(this)) {
        throw new CaptureError(
          `capture: forward reads the values of a tensor computed by ${rec.producerName(this)} (${k}()); ` +
            "control flow on tensor values cannot be captured — compute it with ops, or move it into a module marked traceAtomic",
        );
      }
      return orig.apply(this, a);
    };
  });
  try {
    return fn();
  } finally {
    VALUE_READERS.forEach((k, i) => (proto[k] = saved[i]));
  }
}

/** Captures `model` run on `examples` as a Graph; see the file header. */
export function capture(model: Module, examples: Tensor | readonly Tensor[], opts: CaptureOptions = {}): Graph {
  const inputs = examples instanceof Tensor ? [examples] : [...examples];
  const atomic = opts.atomic ?? ((m: Module) => isAtomicModule(m));
  const rec = new Recorder(model);
  for (const x of inputs) rec.input(x);
  const handles: HookHandle[] = [];
  const recorded: boolean[] = [];
  for (const [path, m] of model.namedModules()) {
    // the root is one node (target "") only when asked: a single library layer being exported
    if (path === "" ? !opts.rootAtomic : !atomic(m, path)) continue;
    handles.push(
      m.registerForwardPreHook(() => {
        recorded.push(atCaptureTop());
        enterOpaque();
      }),
    );
    handles.push(
      m.registerForwardHook((_m, args, out) => {
        exitOpaque();
        if (recorded.pop()) rec.module(path, args, out);
      }),
    );
  }
  const run = opts.run ?? ((mod: Module, xs: Tensor[]) => {
    const all = (mod as unknown as { forwardAll?: (...a: Tensor[]) => Tensor[] }).forwardAll;
    return typeof all === "function" ? all.apply(mod, xs) : mod.forward(...xs);
  });
  const wasTraining = model.training;
  const prev = setOpListener((name, args, out) => rec.op(name, args, out));
  let out: Tensor | Tensor[];
  try {
    model.eval();
    out = guardValueReads(rec, () => noGrad(() => run(model, inputs)));
  } finally {
    setOpListener(prev);
    for (const h of handles) h.remove();
    model.train(wasTraining);
  }
  return rec.finish(out);
}
