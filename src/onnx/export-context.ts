/**
 * ExportContext: the graph under construction during export. It owns unique value, node and
 * initializer names, maps traced tensors (by Tensor.id) to value names, deduplicates
 * initializers by tensor identity (shared weights are stored once), records extra opset
 * domains, and finally checks the graph (unique names, every input defined before use, i.e.
 * topologically sorted) before it becomes a GraphProto. Every format exporter (float here,
 * QDQ / QOperator later) writes through it. Called by export.ts and the op-map rules.
 */
import { ValueError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { makeNode, tensorProto, type NodeOptions } from "./builders.js";
import type { GraphProto, NodeProto, OperatorSetIdProto, TensorProto, ValueInfoProto } from "./proto.js";

export class ExportContext {
  /** Default-domain opset the graph targets. */
  readonly opset: number;
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly valueOf = new Map<number, string>();
  private readonly initOf = new Map<Tensor, string>();
  private readonly domains = new Map<string, number>();
  /** Tensor id of the graph output and the name it must get (set by export.ts). */
  private graphOutput: { id: number; name: string } | null = null;

  constructor(opset: number) {
    this.opset = opset;
  }

  /** A name not used yet: `base`, else `base_1`, `base_2`, … */
  uniqueName(base: string): string {
    const clean = base || "v";
    let name = clean;
    for (let i = 1; this.used.has(name); i++) name = `${clean}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Reserves exact names (graph input / output); throws if taken. */
  reserve(name: string): string {
    if (this.used.has(name)) throw new ValueError(`onnx export: name '${name}' is used twice`);
    this.used.add(name);
    return name;
  }

  /** Binds a traced tensor to an existing value name (graph input, alias). */
  bind(tensorId: number, name: string): void {
    this.valueOf.set(tensorId, name);
  }

  /** The value name of a traced tensor. */
  nameOf(tensorId: number): string {
    const name = this.valueOf.get(tensorId);
    if (name === undefined) throw new ValueError(`onnx export: tensor #${tensorId} has no value name (used before it is produced)`);
    return name;
  }

  /** Declares which traced tensor is the graph output, so its producer names it `name`. */
  setGraphOutput(tensorId: number, name: string): void {
    this.graphOutput = { id: tensorId, name: this.reserve(name) };
  }

  /**
   * A fresh value name for the traced tensor `tensorId` (the graph output's reserved name
   * when it is that tensor and not named yet), bound to it.
   */
  produce(tensorId: number, base: string): string {
    const out = this.graphOutput;
    const name = out && out.id === tensorId && !this.valueOf.has(tensorId) ? out.name : this.uniqueName(base);
    this.bind(tensorId, name);
    return name;
  }

  /** A fresh intermediate value name not tied to a traced tensor. */
  temp(base: string): string {
    return this.uniqueName(base);
  }

  /** Appends a node (name made unique). Inputs must already be defined. */
  addNode(opType: string, inputs: readonly string[], outputs: readonly string[], opts: NodeOptions = {}): NodeProto {
    const node = makeNode(opType, inputs, outputs, { ...opts, name: this.uniqueName(opts.name ?? opType) });
    if (opts.domain) this.useDomain(opts.domain, 1);
    this.nodes.push(node);
    return node;
  }

  /** Adds an initializer for a tensor (once per tensor object); returns its name. */
  initializer(t: Tensor, preferredName: string): string {
    const known = this.initOf.get(t);
    if (known) return known;
    const name = this.uniqueName(preferredName);
    this.initializers.push(tensorProto(name, t));
    this.initOf.set(t, name);
    return name;
  }

  /** Adds a prebuilt initializer (scalars, int64 shapes); its name is made unique. */
  constant(proto: TensorProto): string {
    const name = this.uniqueName(proto.name ?? "const");
    this.initializers.push({ ...proto, name });
    return name;
  }

  /** Records an opset import for a non-default domain (highest version wins). */
  useDomain(domain: string, version: number): void {
    this.domains.set(domain, Math.max(version, this.domains.get(domain) ?? 0));
  }

  extraOpsets(): OperatorSetIdProto[] {
    return [...this.domains].map(([domain, version]) => ({ domain, version }));
  }

  /** The finished graph; checks definition-before-use and unique node outputs. */
  toGraph(name: string, inputs: ValueInfoProto[], outputs: ValueInfoProto[]): GraphProto {
    const defined = new Set<string>([...inputs.map((v) => v.name!), ...this.initializers.map((t) => t.name!)]);
    for (const node of this.nodes) {
      for (const i of node.input ?? []) {
        if (i !== "" && !defined.has(i)) throw new ValueError(`onnx export: node '${node.name}' (${node.opType}) reads '${i}' before it is defined`);
      }
      for (const o of node.output ?? []) {
        if (defined.has(o)) throw new ValueError(`onnx export: value '${o}' is defined twice`);
        defined.add(o);
      }
    }
    for (const o of outputs) if (!defined.has(o.name!)) throw new ValueError(`onnx export: graph output '${o.name}' is never produced`);
    return { name, node: this.nodes, initializer: this.initializers, input: inputs, output: outputs };
  }
}
