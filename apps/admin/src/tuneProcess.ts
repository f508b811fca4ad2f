// A measuring process of `models tune` (threads × processes): started by tuneParallelism with
// one JSON argument (what to load and how), it loads the model with the requested intra-op
// threads, answers `ready`, waits for `go`, measures the batch setting and answers its point.
import {
  createInferenceEngines,
  loadModel,
  measureBatching,
  type EnginePreference,
  type OnnxProviderPreference,
  type ParallelProbeMessage,
  type ParallelProbeRequest,
} from '@inferq/inference';
import type { ModelManifest } from '@inferq/models';

interface TuneProcessArgs {
  location: string;
  manifest: ModelManifest;
  engine: EnginePreference;
  provider: OnnxProviderPreference;
}

const args = JSON.parse(process.argv[2] ?? '{}') as TuneProcessArgs;
const send = (message: ParallelProbeMessage) => process.send?.(message);
const silent = { info: () => {}, warn: () => {} };

process.once('message', (request: ParallelProbeRequest) => {
  void (async () => {
    try {
      const engines = await createInferenceEngines({
        tfjsBackend: 'auto',
        onnxProvider: args.provider,
        intraOpThreads: request.threads,
        logger: silent,
      });
      const model = await loadModel(args.location, args.manifest, { engines, engine: args.engine });
      await model.warmUp([request.setting.maxBatchSize]);
      const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
      send({ type: 'ready' });
      await go;
      const point = await measureBatching(model, request.setting, { durationMs: request.durationMs });
      model.dispose();
      send({ type: 'point', point });
    } catch (error) {
      send({ type: 'error', message: (error as Error).message });
    }
    process.disconnect();
  })();
});
