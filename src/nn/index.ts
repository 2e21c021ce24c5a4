/**
 * nn: modules (Module, layers, the model zoo), initialisers (`init`), state dicts and their
 * safetensors serialisation. Exported from the package root as `nn`.
 */
export {
  Module, Parameter, StateDictError,
  type StateDict, type LoadStateDictOptions, type LoadStateDictResult, type ForwardHook, type ForwardPreHook, type HookHandle,
} from "./module.js";
export * from "./layers/index.js";
export * as init from "./init.js";
export * as models from "./models/index.js";
export {
  encodeSafetensors, decodeSafetensors, decodeSafetensorsWithMetadata, type EncodeOptions, type SafetensorsContents,
} from "./safetensors.js";
export { saveSafetensors, loadSafetensors, loadSafetensorsWithMetadata, writeFileAtomic, type AtomicWriteOptions } from "./fs.js";
