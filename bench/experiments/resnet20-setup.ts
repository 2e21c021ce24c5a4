/**
 * The ResNet-20 training step that resnet20-step.ts times and kernel-times.ts breaks down by
 * kernel (issue 20): 3×32×32 random images (8 batches of 32, seed 1), width 16, SGD momentum 0.9,
 * cross-entropy; QAT prepared with the onednn preset. The library is imported from `root`
 * (another checkout for A/B runs). Returns the step after 5 warm-up steps. Not a test.
 */
import path from "node:path";

export async function resnet20Step(root: string, o: { backend: string; threads: number; qat: boolean }): Promise<() => void> {
  const imp = (p: string) => import(path.join(path.resolve(root), p));
  const { setBackend, setNumThreads } = await imp("src/backend/index.ts");
  await imp("src/index.ts");
  const { SGD } = await imp("src/optim/sgd.ts");
  const { resnet20 } = await imp("src/nn/models/resnet.ts");
  const { randn, randint } = await imp("src/tensor/creation.ts");
  const { crossEntropy } = await imp("src/ops/loss.ts");
  const { manualSeed } = await imp("src/tensor/random.ts");
  const { noGrad } = await imp("src/tensor/grad-mode.ts");
  const { prepareQat } = await imp("src/quant/prepare.ts");
  const { qconfigs } = await imp("src/quant/qconfig.ts");
  setBackend(o.backend);
  setNumThreads(o.threads);
  manualSeed(1);
  const batches = Array.from({ length: 8 }, () => ({ x: randn([32, 3, 32, 32]), y: randint(0, 10, [32], { dtype: "int32" }) }));
  let m = resnet20({ inChannels: 3 });
  if (o.qat) {
    m = prepareQat(m, { qconfig: qconfigs.onednn });
    noGrad(() => m.forward(batches[0].x));
  }
  const opt = new SGD(m.parameters(), { lr: 0.005, momentum: 0.9 });
  let i = 0;
  const step = (): void => {
    m.train();
    const { x, y } = batches[i++ % batches.length];
    opt.zeroGrad();
    crossEntropy(m.forward(x), y).backward();
    opt.step();
  };
  for (let w = 0; w < 5; w++) step();
  return step;
}
