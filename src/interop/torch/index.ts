/**
 * The PyTorch round trip (issue 21): exportTorch writes a prepared QAT model as a PyTorch
 * project (model code, weights, recipe, torchrun/DDP training script); importTorch reads the
 * trained result back. Node only (files). See docs/SCALING.md.
 */
export { exportTorch, RECIPE_FORMAT, type ExportTorchOptions, type TorchRecipe, type TorchTrainRecipe } from "./export-torch.js";
export { importTorch, type ImportTorchResult, type TorchTrainingState } from "./import-torch.js";
export { generateModel, pyPath, type GeneratedModel } from "./codegen.js";
