/**
 * Tensor: a dtype, a shape and a row-major contiguous typed array, plus autograd state.
 * Tensors are immutable values for the ops (every op returns a new tensor); optimizers and
 * observers may update `data` in place under noGrad. Op methods (`x.add(y)`, `x.reshape(...)`)
 * are installed by src/ops/methods.ts; `backward()` by src/autograd/backward.ts.
 */
import { type AnyArray, type DType, dtypeOfArray, isFloatDType } from "./dtype.js";
import { DTypeError, ShapeError, ValueError, fmtShape } from "./errors.js";
import type { GradNode } from "./grad-mode.js";
import { type Shape, numel } from "./shape.js";

let nextId = 1;

export class Tensor {
  /** Unique id, stable for the tensor's life (used as a key by the tape and by observers). */
  readonly id: number = nextId++;
  readonly data: AnyArray;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Accumulated gradient of a leaf that requires grad, after backward(). */
  grad: Tensor | null = null;
  private _requiresGrad = false;
  private _node: GradNode | null = null;

  constructor(data: AnyArray, shape: Shape) {
    if (numel(shape) !== data.length) {
      throw new ShapeError(`Tensor: shape ${fmtShape(shape)} needs ${numel(shape)} elements, data has ${data.length}`);
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtypeOfArray(data);
  }

  get size(): number {
    return this.data.length;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** True for a leaf created with requiresGrad, or for an op output depending on one. */
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }

  set requiresGrad(on: boolean) {
    if (on && !isFloatDType(this.dtype)) {
      throw new DTypeError(`requiresGrad: only float tensors can require gradients (got ${this.dtype})`);
    }
    if (!on && this._node) throw new ValueError("requiresGrad: cannot switch off on a non-leaf tensor; use detach()");
    this._requiresGrad = on;
  }

  /** Sets requiresGrad and returns this (torch's requires_grad_). */
  requiresGrad_(on = true): this {
    this.requiresGrad = on;
    return this;
  }

  /** The tape node that produced this tensor (null for leaves). */
  get gradNode(): GradNode | null {
    return this._node;
  }

  /** Used by the tape only. */
  setGradNode(node: GradNode | null): void {
    this._node = node;
    if (node) this._requiresGrad = true;
  }

  get isLeaf(): boolean {
    return this._node === null;
  }

  /** A new tensor sharing no history (and no storage) with this one. */
  detach(): Tensor {
    return new Tensor(this.data.slice(), this.shape);
  }

  /** A copy of the values as float32. */
  toFloat32Array(): Float32Array {
    return Float32Array.from(this.data as ArrayLike<number>);
  }

  /** Values as a plain (flat) number array. */
  toList(): number[] {
    return Array.from(this.data as ArrayLike<number>);
  }

  /** Values as nested arrays following the shape. */
  toArray(): unknown {
    const flat = this.toList();
    if (this.shape.length === 0) return flat[0];
    const build = (dim: number, offset: number): unknown[] => {
      const n = this.shape[dim];
      const inner = numel(this.shape.slice(dim + 1));
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(dim === this.shape.length - 1 ? flat[offset + i] : build(dim + 1, offset + i * inner));
      return out;
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.data.length !== 1) throw new ShapeError(`item: tensor of shape ${fmtShape(this.shape)} has ${this.data.length} elements, not 1`);
    return this.data[0];
  }

  toString(): string {
    const vals = this.toList().slice(0, 8).map((v) => +v.toFixed(4));
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}, [${vals.join(", ")}${this.size > 8 ? ", …" : ""}])`;
  }
}
