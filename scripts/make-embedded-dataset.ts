/**
 * Builds assets/fashion-mnist-sample/: a class-balanced, seeded subset of Fashion-MNIST (600
 * training and 100 test images per class) from the Debian package dataset-fashion-mnist,
 * written as gzip-9 IDX files plus a README with provenance, licence, selection rule, the
 * chosen indices and sha256 sums. Deterministic: rerunning reproduces identical bytes.
 * Run: npx tsx scripts/make-embedded-dataset.ts [sourceDir]
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { fashionMnist } from "../src/data/fs.js";
import { encodeIdx } from "../src/data/idx.js";
import type { ImageDataset } from "../src/data/dataset.js";
import { Generator } from "../src/tensor/random.js";

const SOURCE_DIR = process.argv[2] ?? "/usr/share/datasets/fashion-mnist";
const OUT_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "assets", "fashion-mnist-sample");
const SEED = 20240601;
const TRAIN_PER_CLASS = 600;
const TEST_PER_CLASS = 100;
const DEBIAN_VERSION = "0.0~git20200523.55506a9-1";

/**
 * Selection rule: walk a seeded permutation of the split (Generator(seed).permutation(N),
 * xoshiro128** from src/tensor/random.ts) and keep each index whose class still has room,
 * until every class has `perClass`; the kept indices are then sorted ascending.
 */
function pickBalanced(ds: ImageDataset, perClass: number, seed: number): Int32Array {
  const taken = new Array<number>(ds.classes.length).fill(0);
  const chosen: number[] = [];
  for (const i of new Generator(seed).permutation(ds.length)) {
    const c = ds.labels[i];
    if (taken[c] < perClass) {
      taken[c]++;
      chosen.push(i);
    }
  }
  if (taken.some((t) => t !== perClass)) throw new Error(`not enough images per class: ${taken.join(", ")}`);
  return Int32Array.from(chosen.sort((a, b) => a - b));
}

interface Written {
  name: string;
  bytes: number;
  sha256: string;
}

function writeSplit(ds: ImageDataset, prefix: string): Written[] {
  const images = encodeIdx({ shape: [ds.length, ds.height, ds.width], data: ds.images });
  const labels = encodeIdx({ shape: [ds.length], data: Uint8Array.from(ds.labels) });
  const out: Written[] = [];
  for (const [name, raw] of [[`${prefix}-images-idx3-ubyte.gz`, images], [`${prefix}-labels-idx1-ubyte.gz`, labels]] as const) {
    const gz = gzipSync(raw, { level: 9 });
    writeFileSync(join(OUT_DIR, name), gz);
    out.push({ name, bytes: gz.length, sha256: createHash("sha256").update(gz).digest("hex") });
  }
  return out;
}

function wrapIndices(indices: Int32Array): string {
  const lines: string[] = [];
  for (let i = 0; i < indices.length; i += 20) lines.push(Array.from(indices.subarray(i, i + 20)).join(","));
  return lines.join("\n");
}

const LICENCE = `The MIT License (MIT) Copyright © [2017] Zalando SE, https://tech.zalando.com
(Debian's copyright file: "Copyright: 2017, Zalando SE", License: Expat, i.e. MIT.)

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the “Software”), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED “AS IS”, WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.`;

function readme(trainIdx: Int32Array, testIdx: Int32Array, files: Written[]): string {
  const table = files.map((f) => `| ${f.name} | ${f.bytes} | \`${f.sha256}\` |`).join("\n");
  return `# Fashion-MNIST sample (embedded in qat-ts)

A class-balanced subset of **Fashion-MNIST** by Zalando Research
(<https://github.com/zalandoresearch/fashion-mnist>), Copyright (c) 2017 Zalando SE,
distributed under the **MIT licence**. The images and labels are unmodified; only a subset is
kept. Taken from the Debian package \`dataset-fashion-mnist\` version ${DEBIAN_VERSION}
(files in \`/usr/share/datasets/fashion-mnist\`; upstream git 55506a9, 2020-05-23).

| split | images | per class | taken from |
|---|---|---|---|
| train (\`train-*\`) | ${trainIdx.length} | ${TRAIN_PER_CLASS} | the 60000 training images |
| test (\`t10k-*\`) | ${testIdx.length} | ${TEST_PER_CLASS} | the 10000 test images |

Format: standard IDX (uint8 images [N, 28, 28], uint8 labels [N]), gzip level 9, same file names
as the original dataset, so \`data.fashionMnist(dir)\` loads this directory too
(\`fashionMnistSample()\` from \`qat-ts/datasets/fashion-mnist-sample\` does it for you).

## Selection rule

Generated by \`scripts/make-embedded-dataset.ts\` (\`npx tsx scripts/make-embedded-dataset.ts\`).
For each split, walk the permutation \`new Generator(seed).permutation(N)\` (qat-ts's
xoshiro128** generator, \`src/tensor/random.ts\`; seed **${SEED}** for train, **${SEED + 1}** for
test) and keep every index whose class has fewer than the per-class quota so far (${TRAIN_PER_CLASS}
train, ${TEST_PER_CLASS} test), until each class reaches it. The kept indices
are sorted ascending and written in that order. Rerunning the script reproduces these files
byte for byte.

## Files

| file | bytes | sha256 |
|---|---|---|
${table}

## Licence of the data

${LICENCE}

## Indices chosen

Training-set indices (0-based positions in \`train-images-idx3-ubyte\`), in file order:

\`\`\`
${wrapIndices(trainIdx)}
\`\`\`

Test-set indices (0-based positions in \`t10k-images-idx3-ubyte\`), in file order:

\`\`\`
${wrapIndices(testIdx)}
\`\`\`
`;
}

function main(): void {
  const full = fashionMnist(SOURCE_DIR);
  if (full.train.length !== 60000 || full.test.length !== 10000) {
    throw new Error(`expected 60000/10000 images in ${SOURCE_DIR}, got ${full.train.length}/${full.test.length}`);
  }
  const trainIdx = pickBalanced(full.train, TRAIN_PER_CLASS, SEED);
  const testIdx = pickBalanced(full.test, TEST_PER_CLASS, SEED + 1);
  mkdirSync(OUT_DIR, { recursive: true });
  const files = [...writeSplit(full.train.select(trainIdx), "train"), ...writeSplit(full.test.select(testIdx), "t10k")];
  writeFileSync(join(OUT_DIR, "README.md"), readme(trainIdx, testIdx, files));
  for (const f of files) console.log(`${f.name}  ${f.bytes} bytes  sha256 ${f.sha256}`);
}

main();
