import cors from 'cors';
import type { RateLimits } from '@inferq/admission';
import express, { Router, type RequestHandler } from 'express';
import { AppError, publishModelVersionBodySchema, setLiveVersionBodySchema } from '@inferq/core';
import { requireAdmin } from '../http/authenticate.ts';
import { addressRateLimit } from '../http/rateLimit.ts';
import { parseBody } from '../http/parseBody.ts';
import type { ModelService } from '../modelService.ts';

/**
 * Largest .onnx file an admin uploads in one request (the body is held in memory while it is
 * checked); larger models are published from a folder with the admin CLI.
 */
const maxOnnxUploadBytes = 256 * 1024 * 1024;

/** A year: the longest cache lifetime HTTP caches honour; a version's files never change. */
const immutableMaxAgeMs = 365 * 24 * 3600 * 1000;

/**
 * GET /v1/models/:name/:version/<file>: model.json, manifest.json and the weight shards of a
 * version, so a browser can `tf.loadLayersModel(url)` and run the same model client-side.
 *
 * Public on purpose (mounted before authentication): the files are the model itself, which
 * clients are meant to download; no job, user or input is reachable here. Versions are
 * immutable, so responses are cacheable for a year (`immutable`); CORS allows any origin, and
 * Cross-Origin-Resource-Policy is relaxed from helmet's same-origin for these responses only.
 * Limited per client address (`limits.consumePublic`), and answered from memory after the first
 * request for a version (see ModelService.modelFile).
 */
export function modelFilesRouter(service: ModelService, limits?: RateLimits): Router {
  const router = Router();
  const allowAnyOrigin = cors({ origin: '*', methods: ['GET', 'HEAD'], maxAge: 86_400 });
  const perAddress: RequestHandler = limits ? addressRateLimit(limits) : (_req, _res, next) => next();
  router.options('/models/:name/:version/*file', allowAnyOrigin);
  router.get('/models/:name/:version/*file', allowAnyOrigin, perAddress, async function getModelFile(req, res) {
    const segments = req.params.file as unknown as string[];
    const file = await service.modelFile(req.params.name as string, req.params.version as string, segments.join('/'));
    res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
    res.type(file.contentType);
    await new Promise<void>((resolve, reject) => {
      // `root` confines the file to the version folder (the service already checked the name).
      res.sendFile(file.file, { root: file.root, maxAge: immutableMaxAgeMs, immutable: true }, (error) => {
        if (!error) return resolve();
        // The version folder was removed under us: a missing file, and nothing left to remember.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          service.forgetServedVersion(req.params.name as string, req.params.version as string);
          return reject(new AppError('NOT_FOUND', 'This model file is no longer stored.'));
        }
        reject(error);
      });
    });
  });
  return router;
}

/**
 * The model listing for any authenticated caller, and the operator routes that publish a
 * version and make a version live (admins only).
 */
export function modelsRouter(service: ModelService): Router {
  const router = Router();

  router.get('/models', async function listModels(_req, res) {
    res.json(await service.list());
  });

  router.get('/models/:name', async function getModel(req, res) {
    res.json(await service.get(req.params.name as string));
  });

  router.post('/admin/models/:name/versions', requireAdmin, async function publishModelVersion(req, res) {
    const body = parseBody(publishModelVersionBodySchema, req.body);
    const result = await service.publishFromUrl(req.params.name as string, body);
    const model = await service.get(req.params.name as string);
    res
      .status(result.status === 'written' ? 201 : 200)
      .location(`/v1/models/${req.params.name as string}`)
      .json({ status: result.status, version: result.model.version, sha256: result.model.manifest.sha256, model });
  });

  // The admin CLI's `models add` over HTTP: the body is the .onnx file; version, reader and limits in the query.
  router.post(
    '/admin/models/:name/onnx',
    requireAdmin,
    express.raw({ type: () => true, limit: maxOnnxUploadBytes }),
    async function addOnnxModel(req, res) {
      const name = req.params.name as string;
      const bytes = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (bytes.byteLength === 0)
        throw new AppError('VALIDATION_FAILED', 'Send the .onnx file as the request body.', {
          details: { field: 'file' },
        });
      const query = (key: string) => (typeof req.query[key] === 'string' ? (req.query[key] as string) : undefined);
      const json = (key: string) => {
        const raw = query(key);
        if (raw === undefined) return undefined;
        try {
          return JSON.parse(raw) as unknown;
        } catch {
          throw new AppError('VALIDATION_FAILED', `${key} must be JSON.`, { details: { field: key } });
        }
      };
      const result = await service.addOnnx(name, {
        version: query('version'),
        bytes,
        reader: json('reader'),
        limits: json('limits'),
      });
      const manifest = result.model.manifest;
      res
        .status(result.status === 'written' ? 201 : 200)
        .location(`/v1/models/${name}`)
        .json({
          status: result.status,
          name,
          version: result.version,
          live: result.live,
          sha256: manifest.sha256,
          inputs: manifest.inputs ?? [],
          outputs: manifest.outputs ?? [],
          reader: manifest.reader?.kind ?? 'raw',
        });
    },
  );

  router.post('/admin/models/:name/live', requireAdmin, async function setLiveVersion(req, res) {
    const body = parseBody(setLiveVersionBodySchema, req.body);
    res.json(await service.setLive(req.params.name as string, body.version));
  });

  return router;
}
