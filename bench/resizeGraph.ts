// The worker's aligned-corners resize and scaling (JavaScript, `decodedRgbToInput`) against the
// same steps as ONNX nodes that ONNX Runtime runs, fed the decoded 8-bit pixels: the third design
// the throughput issue named, resize in the model's graph (on a GPU host it would run on the GPU).
// Here, on ONNX Runtime's CPU provider with one thread, for each photo: CPU ms of the step (the
// median over the rounds, the designs taking turns), the largest difference of any input value
// from the worker's, and how far each class's score moves through the model.
//   pnpm bench resize-graph [--photos fixtures|DIR] [--image 1024x768|native] [--model nsfw] [--rounds 30]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { decodedRgbToInput, jpegFastPath, type DecodedRgb } from '@inferq/images';
import { alignCornersResizeModel } from '@inferq/testing';
import { loadPhotoModel, photoModelOptions, plainJpegPhotos } from './lib/photoModel.ts';
import { machineLoad } from './lib/procStat.ts';
import { median, printTable, writeResults } from './lib/stats.ts';

const { values } = parseArgs({ options: photoModelOptions });
const rounds = Math.max(1, Number(values.rounds));

const { input, model, onnx } = await loadPhotoModel(values.model, values['models-dir']);
const divisor = input.scale.mode === 'divide' ? input.scale.divisor : Number.NaN;
if (input.channelOrder !== 'rgb' || !(divisor > 0))
  throw new Error(`${values.model} does not take RGB pixels divided by a constant, what this graph makes`);

// Each photo decoded once, exactly as the worker decodes it; the designs then start from its pixels.
const photos: DecodedRgb[] = [];
for (const { file, bytes } of await plainJpegPhotos(values.photos, values.image)) {
  const decoded = await jpegFastPath(bytes, { maxPixels: 100_000_000 }, (pixels) => ({
    ...pixels,
    data: Buffer.from(pixels.data.subarray(0, pixels.width * pixels.height * 3)),
  }));
  if (!decoded) throw new Error('libjpeg-turbo is not on this machine');
  // The graph reads the pixels as stored; an EXIF rotation would need its own nodes.
  if (decoded.value.orientation !== 1) console.log(`${path.basename(file)}: EXIF orientation, left out`);
  else photos.push(decoded.value);
}
console.log(
  `resize and scaling for ${values.model} (${input.width}×${input.height}, /${divisor}): ${photos.length} ${values.photos} photos at ${values.image}, ${rounds} rounds; ${machineLoad().uptime}`,
);

const sessions = await Promise.all(
  (['cast first', 'resize first'] as const).map((order) =>
    onnx.createSession(alignCornersResizeModel({ outW: input.width, outH: input.height, divisor, order })),
  ),
);
const designs: Array<{ name: string; run: (photo: DecodedRgb) => Promise<Float32Array> }> = [
  { name: 'JavaScript (the worker)', run: async (photo) => decodedRgbToInput(photo, input) },
  ...sessions.map(({ session, ort }, index) => ({
    name: index === 0 ? 'ONNX Resize on floats' : 'ONNX Resize on 8-bit, rounded',
    run: async (photo: DecodedRgb) => {
      const pixels = new ort.Tensor('uint8', photo.data, [1, photo.height, photo.width, 3]);
      const output = await session.run({ pixels });
      return output.input!.data as Float32Array;
    },
  })),
];

// Round by round, every design on a photo in turn: the machine's drift falls on all alike.
const times = designs.map(() => photos.map((): number[] => []));
const made: Float32Array[][] = designs.map(() => []);
for (const [p, photo] of photos.entries()) {
  for (let round = 0; round < rounds; round++) {
    for (const [d, design] of designs.entries()) {
      const cpu = process.cpuUsage();
      const values = await design.run(photo);
      const used = process.cpuUsage(cpu);
      times[d]![p]!.push((used.user + used.system) / 1000);
      if (round === 0) made[d]![p] = values;
    }
  }
}
const scores = await Promise.all(
  made.map((inputs) => Promise.all(inputs.map(async (one) => (await model.predictBatch([one]))[0]!))),
);
const msOf = (d: number) => times[d]!.reduce((sum, each) => sum + median(each), 0) / photos.length;
const rows = designs.map((design, d) => {
  let largestValueDifference = 0;
  for (const [p, values] of made[d]!.entries()) {
    const worker = made[0]![p]!;
    for (let i = 0; i < values.length; i++)
      largestValueDifference = Math.max(largestValueDifference, Math.abs(values[i]! - worker[i]!));
  }
  const moves = scores[d]!.map((photo, p) =>
    Math.max(...photo.map((score, c) => Math.abs(score - scores[0]![p]![c]!))),
  );
  return {
    design: design.name,
    msPerPhoto: msOf(d),
    largestValueDifference,
    largestScoreMove: Math.max(...moves),
    photosMovedOver001: moves.filter((move) => move > 0.01).length,
  };
});
printTable(
  rows.map((row, d) => ({
    'resize and scaling': row.design,
    'CPU ms per photo': row.msPerPhoto.toFixed(3),
    'against the worker': d === 0 ? '' : `${(row.msPerPhoto / rows[0]!.msPerPhoto).toFixed(2)}×`,
    'largest input difference': d === 0 ? '' : row.largestValueDifference.toExponential(1),
    'largest score move': d === 0 ? '' : row.largestScoreMove.toFixed(4),
    'photos moved > 0.01': d === 0 ? '' : `${row.photosMovedOver001} of ${photos.length}`,
  })),
);
model.dispose();
for (const { session } of sessions) await session.release();
writeResults('resize-graph', { model: values.model, photos: values.photos, image: values.image, rounds, rows });
