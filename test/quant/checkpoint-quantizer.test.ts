/**
 * loadPrepared with the Quantizer API (issue 13): a model prepared with DefaultQuantizer's
 * addRelu comes back from its checkpoint with the same graph (strict keys) and bit-identical
 * outputs; a quantizer of the user's own is stored by name only, so loading needs it passed in
 * (a ValueError naming it otherwise); a malformed `addRelu` field is a FormatError naming it.
 */
import { describe, expect, it } from "vitest";
import { noGrad } from "../../src/tensor/grad-mode.js";
import type { GraphModule } from "../../src/graph/graph-module.js";
import { DefaultQuantizer, type QatModel, type Quantizer, loadPrepared, preparedConfig, prepareQat, qconfigs } from "../../src/quant/index.js";
import type { Checkpoint } from "../../src/train/checkpoint.js";
import { FormatError, ValueError } from "../../src/tensor/errors.js";
import { ResidualConcatNet, images, qatSteps, sameBits, trainedFloat } from "./quantizer-helpers.js";

/** The default x86 recipe with the branch left float, under a name of its own. */
class X86NoBranch implements Quantizer {
  readonly name = "x86-no-branch";
  annotate(gm: GraphModule): void {
    new DefaultQuantizer().setGlobal(qconfigs.x86).setModuleName("branch", null).annotate(gm);
  }
}

function checkpointOf(qm: QatModel): Checkpoint {
  return { model: qm.stateDict(), config: preparedConfig(qm, null) as unknown as Record<string, unknown> };
}

describe("loadPrepared and quantizers", () => {
  it("an addRelu model: same keys, bit-identical outputs after loading", () => {
    const example = images(2, 1);
    const qm = prepareQat(trainedFloat(() => new ResidualConcatNet()), { quantizer: new DefaultQuantizer({ addRelu: true }).setGlobal(qconfigs.x86), example });
    qatSteps(qm);
    const ckpt = checkpointOf(qm);
    expect((ckpt.config as { qat: { description: { addRelu?: boolean } } }).qat.description.addRelu).toBe(true);
    const back = loadPrepared(ckpt, { model: new ResidualConcatNet() });
    back.eval();
    const x = images(8, 5);
    expect(sameBits(noGrad(() => back.forward(x)), noGrad(() => qm.forward(x)))).toBe(true);
  });

  it("a user's quantizer: refused by name without it, identical with it", () => {
    const example = images(2, 1);
    const qm = prepareQat(trainedFloat(() => new ResidualConcatNet()), { quantizer: new X86NoBranch(), example });
    qatSteps(qm);
    const ckpt = checkpointOf(qm);
    expect(() => loadPrepared(ckpt, { model: new ResidualConcatNet() })).toThrow(ValueError);
    expect(() => loadPrepared(ckpt, { model: new ResidualConcatNet() })).toThrow(/quantizer 'x86-no-branch'.*pass \{ quantizer \}/);
    const back = loadPrepared(ckpt, { model: new ResidualConcatNet(), quantizer: new X86NoBranch() });
    back.eval();
    const x = images(8, 6);
    expect(sameBits(noGrad(() => back.forward(x)), noGrad(() => qm.forward(x)))).toBe(true);
  });

  it("a non-boolean addRelu in the checkpoint is a FormatError naming the field", () => {
    const qm = prepareQat(trainedFloat(() => new ResidualConcatNet()), { qconfig: qconfigs.x86, example: images(2, 1) });
    const ckpt = checkpointOf(qm);
    (ckpt.config as { qat: { description: Record<string, unknown> } }).qat.description.addRelu = "yes";
    expect(() => loadPrepared(ckpt, { model: new ResidualConcatNet() })).toThrow(FormatError);
    expect(() => loadPrepared(ckpt, { model: new ResidualConcatNet() })).toThrow(/config\.qat\.description\.addRelu/);
  });
});
