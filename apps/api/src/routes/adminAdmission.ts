import { Router } from 'express';
import type { FairQueueSnapshot } from '@inferq/admission';
import type { AdmissionView } from '@inferq/core';
import { requireAdmin } from '../http/authenticate.ts';

/** What `GET /v1/admin/admission` reads: each fair-queued resource of this process, now. */
export type AdmissionSource = () => Record<keyof AdmissionView, FairQueueSnapshot | undefined>;

/** A snapshot as the wire shows it: flows are users. */
export function admissionView(source: AdmissionSource): AdmissionView {
  const resources = source();
  const view = (snapshot: FairQueueSnapshot | undefined) => ({
    capacity: snapshot?.capacity ?? 0,
    inUse: snapshot?.inUse ?? 0,
    waiting: snapshot?.waiting ?? 0,
    users: (snapshot?.flows ?? []).map(({ flow, ...use }) => ({ userId: flow, ...use })),
  });
  return {
    submits: view(resources.submits),
    uploadBytes: view(resources.uploadBytes),
    decodePixels: view(resources.decodePixels),
    streams: view(resources.streams),
  };
}

/**
 * The fair queues of this API process (submit slots, upload memory, decoding, event streams),
 * per user: held, waiting, queued and refused. Mounted at /v1/admin; administrators only. Each
 * API process answers for itself (as `/metrics` does).
 */
export function adminAdmissionRouter(source: AdmissionSource): Router {
  const router = Router();
  router.use(requireAdmin);
  router.get('/admission', function getAdmission(_req, res) {
    res.json(admissionView(source));
  });
  return router;
}
