/**
 * The backward engine: reverse-mode accumulation over the tape that ops recorded with
 * `record` (src/tensor/grad-mode.ts). Topologically orders the graph, runs each node's vjp
 * under noGrad, sums gradients reaching a tensor along several paths, and accumulates into
 * `.grad` of leaves that require it. Gradient arrays it created and no longer needs go back to
 * the allocator as soon as they are consumed (./grad-buffers.ts). Installs Tensor.prototype.backward.
 */
import { kernels } from "../backend/index.js";
import { allocArrayUninit } from "../tensor/dtype.js";
import { DTypeError, ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import { type GradNode, noGrad } from "../tensor/grad-mode.js";
import { shapesEqual } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { GradBuffers, customNodes } from "./grad-buffers.js";

export interface BackwardOptions {
  /** Keep the graph so backward can run through it again (torch retain_graph). */
  retainGraph?: boolean;
}

const FREED: GradNode = {
  name: "freed",
  inputs: [],
  backward() {
    throw new ValueError("backward: trying to backward through the graph a second time; pass { retainGraph: true } the first time");
  },
};

/** Tensors reachable from root through grad nodes, in topological order (inputs first). */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<number>([root.id]);
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.gradNode ? t.gradNode.inputs : [];
    if (i < inputs.length) {
      top[1] = i + 1;
      const child = inputs[i];
      if (child.requiresGrad && !seen.has(child.id)) {
        seen.add(child.id);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

const isFloat = (t: Tensor): boolean => t.dtype === "float32" || t.dtype === "float64";

/** a += b in place (a's array is exclusively the caller's), through the backend's add kernel. */
function addInPlace(a: Tensor, b: Tensor): Tensor {
  const n = [a.data.length];
  kernels().binary("add", a.data, n, b.data, n, a.data, n);
  return a;
}

/**
 * a + b as a new tensor. Floats go through the active backend's add kernel (the same float32 /
 * float64 sums as the loop, threaded on the native backend, and the result stays in the
 * backend's memory); other dtypes keep the loop (typed-array wrap-around).
 */
function addInto(a: Tensor, b: Tensor): Tensor {
  const n = a.data.length;
  if ((a.dtype === "float32" || a.dtype === "float64") && b.dtype === a.dtype && b.data.length === n) {
    const sum = allocArrayUninit(a.dtype, n);
    kernels().binary("add", a.data, [n], b.data, [n], sum, [n]);
    return new Tensor(sum, a.shape);
  }
  const out = new Tensor(a.data.slice(), a.shape);
  const o = out.data;
  const bd = b.data;
  for (let i = 0; i < o.length; i++) o[i] += bd[i];
  return out;
}

/** Adds g into leaf t's .grad (taking g's array when nothing else refers to it). */
function accumulateLeaf(t: Tensor, g: Tensor, grads: Map<number, Tensor>, buffers: GradBuffers): void {
  if (t.grad) {
    t.grad = addInto(t.grad, g);
    buffers.release(g, grads.values());
  } else {
    t.grad = buffers.adopt(g, grads.values()) ? new Tensor(g.data, g.shape) : new Tensor(g.data.slice(), g.shape);
  }
}

/** Runs node's vjp on g, adds the input gradients to `grads`, then frees what nothing reads any more. */
function backwardNode(node: GradNode, g: Tensor, grads: Map<number, Tensor>, buffers: GradBuffers): void {
  const custom = customNodes.has(node);
  if (custom) buffers.keep(g);
  const inputGrads = node.backward(g);
  const done: Tensor[] = [g];
  node.inputs.forEach((inp, k) => {
    const gi = inputGrads[k];
    if (!gi) return;
    if (custom) buffers.keep(gi);
    done.push(gi);
    if (!inp.requiresGrad) return;
    if (!shapesEqual(gi.shape, inp.shape)) {
      throw new ShapeError(`backward of '${node.name}': gradient ${fmtShape(gi.shape)} for input ${k} of shape ${fmtShape(inp.shape)}`);
    }
    if (gi.dtype !== inp.dtype) throw new DTypeError(`backward of '${node.name}': gradient is ${gi.dtype}, input ${k} is ${inp.dtype}`);
    const prev = grads.get(inp.id);
    if (prev && isFloat(prev) && prev.dtype === gi.dtype && prev.size === gi.size && buffers.exclusive(prev, gi, grads.values())) {
      addInPlace(prev, gi);
      return;
    }
    const next = prev ? addInto(prev, gi) : gi;
    if (prev) {
      buffers.count(prev, -1);
      done.push(prev);
    }
    buffers.count(next, 1);
    grads.set(inp.id, next);
  });
  for (const d of done) buffers.release(d, grads.values());
}

/** Computes d(root)/d(leaf) for every leaf requiring grad, accumulating into leaf.grad. */
export function backward(root: Tensor, gradOutput?: Tensor, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) throw new ValueError("backward: tensor does not require grad and has no grad node");
  let seed = gradOutput;
  if (!seed) {
    if (root.size !== 1) throw new ShapeError(`backward: gradient can be implicit only for one-element outputs, got ${fmtShape(root.shape)}`);
    seed = new Tensor(root.data.slice().fill(1), root.shape);
  } else if (!shapesEqual(seed.shape, root.shape)) {
    throw new ShapeError(`backward: gradient shape ${fmtShape(seed.shape)} differs from output shape ${fmtShape(root.shape)}`);
  }
  const order = topoOrder(root);
  const grads = new Map<number, Tensor>([[root.id, seed]]);
  const buffers = new GradBuffers();
  try {
    noGrad(() => {
      for (let i = order.length - 1; i >= 0; i--) {
        const t = order[i];
        const g = grads.get(t.id);
        if (!g) continue;
        grads.delete(t.id);
        buffers.count(g, -1);
        if (!t.gradNode) accumulateLeaf(t, g, grads, buffers);
        else {
          backwardNode(t.gradNode, g, grads, buffers);
          if (!opts.retainGraph) buffers.releaseInternal(t, grads.values());
        }
      }
    });
  } finally {
    buffers.close();
  }
  if (!opts.retainGraph) for (const t of order) if (t.gradNode) t.setGradNode(FREED);
}

declare module "../tensor/tensor.js" {
  interface Tensor {
    /** Backpropagates from this tensor (a scalar unless `gradient` is given). */
    backward(gradient?: Tensor, opts?: BackwardOptions): void;
  }
}

Tensor.prototype.backward = function (this: Tensor, gradient?: Tensor, opts?: BackwardOptions): void {
  backward(this, gradient, opts);
};
