#!/usr/bin/env node
import { writeFile } from 'node:fs/promises';
import {
  datatypesModel,
  detectorModel,
  embeddingModel,
  tinyConvNetModel,
  tinyTextModel,
  tokenClassifierModel,
  twoInputModel,
} from '../src/onnxTestModels.ts';

/** Writes one of the repo's small ONNX test models to a file: `writeOnnxTestModel.ts KIND FILE`. */
const models: Record<string, () => Uint8Array> = {
  'two-input': twoInputModel,
  'token-classifier': tokenClassifierModel,
  embedding: embeddingModel,
  detector: detectorModel,
  datatypes: datatypesModel,
  // Stand-ins for the PyTorch exports of docs/models/bring-your-own-model.md (same inputs and outputs).
  'tiny-convnet': tinyConvNetModel,
  'tiny-text': tinyTextModel,
};
const [kind, file] = process.argv.slice(2);
const make = kind === undefined ? undefined : models[kind];
if (!make || !file) {
  process.stderr.write(`usage: writeOnnxTestModel.ts ${Object.keys(models).join('|')} FILE\n`);
  process.exit(2);
}
await writeFile(file, make());
