// The naive baseline: how a model is usually served. An Express server that decodes the upload and
// runs the model inside the request handler, with a fixed cap on requests in progress (503 at once
// when full). Same model, backend and preprocessing as the worker; `--processes` > 1 forks
// copies that share the port (node:cluster), as one would to use more cores.
//   node bench/lib/naiveServer.ts --port 3100 --model nsfw --models-dir models [--cap 8] [--processes 1]
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import express from 'express';
import multer from 'multer';
import { imageToInput } from '@inferq/images';
import { decodeOutput, loadModel, startTfjsBackend } from '@inferq/inference';
import { imageInputOf, ModelRegistry } from '@inferq/models';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    model: { type: 'string', default: 'nsfw' },
    'models-dir': { type: 'string', default: 'models' },
    cap: { type: 'string', default: '8' },
    processes: { type: 'string', default: '1' },
  },
});

if (cluster.isPrimary && Number(values.processes) > 1) {
  for (let i = 0; i < Number(values.processes); i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const tfjs = await startTfjsBackend({ preferred: 'wasm', logger: { info: () => {}, warn: () => {} } });
  const { manifest, location } = await new ModelRegistry({ root: values['models-dir'] }).resolve(values.model);
  const model = await loadModel(location, manifest, { engines: { tfjs, onnx: null } });
  await model.warmUp();
  const cap = Number(values.cap);
  let inProgress = 0;
  const app = express();
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: 10 * 1024 * 1024, files: 1 } }).single(
    'image',
  );
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.post(
    '/predict',
    (_req, res, next) => {
      if (inProgress >= cap) {
        res.status(503).json({ error: { code: 'BUSY', message: 'Too many requests in progress.' } });
        return;
      }
      inProgress++;
      res.once('close', () => inProgress--);
      next();
    },
    upload,
    async (req, res) => {
      if (!req.file) {
        res.status(400).json({ error: { code: 'MISSING_IMAGE', message: 'Send the image in the field "image".' } });
        return;
      }
      try {
        const input = await imageToInput(req.file.buffer, imageInputOf(manifest));
        const [vector] = await model.predictBatch([input]);
        res.json({ result: decodeOutput(vector!, manifest) });
      } catch (error) {
        res.status(400).json({ error: { code: 'INFERENCE_FAILED', message: (error as Error).message } });
      }
    },
  );
  const server = app.listen(Number(values.port), '127.0.0.1');
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    model.dispose();
    process.exit(0);
  });
}
