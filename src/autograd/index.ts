/** Autograd: the backward engine, grad-mode switches, custom ops and gradient checking. */
export { backward, type BackwardOptions } from "./backward.js";
export { defineOp, type OpDefinition } from "./custom.js";
export { gradcheck, type GradcheckOptions, type GradcheckResult } from "./gradcheck.js";
export { noGrad, enableGrad, isGradEnabled, setGradEnabled, type GradNode } from "../tensor/grad-mode.js";
