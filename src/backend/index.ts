/**
 * Backend registry and selection. `kernels()` returns the active kernel table: the selected
 * backend's kernels over the reference kernels, so any kernel a fast backend lacks falls back
 * to the readable definition in ./ref. Called by src/ops/*.
 */
import { ValueError } from "../tensor/errors.js";
import type { Backend, Kernels } from "./kernels.js";
import { refKernels } from "./ref/index.js";

const registry = new Map<string, Backend>([["ref", { name: "ref", kernels: refKernels }]]);
let active: Kernels = refKernels;
let activeName = "ref";

/** Makes a backend selectable by name (a fast backend registers itself when loaded). */
export function registerBackend(backend: Backend): void {
  registry.set(backend.name, backend);
}

/** Selects the backend every later op runs on. */
export function setBackend(name: string): void {
  const b = registry.get(name);
  if (!b) throw new ValueError(`setBackend: unknown backend '${name}' (registered: ${[...registry.keys()].join(", ")})`);
  active = { ...refKernels, ...b.kernels };
  activeName = name;
}

export function getBackend(): string {
  return activeName;
}

export function listBackends(): string[] {
  return [...registry.keys()];
}

/** The active kernel table. */
export function kernels(): Kernels {
  return active;
}

export type { Backend, Kernels } from "./kernels.js";
