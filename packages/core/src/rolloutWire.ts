import { z } from 'zod';

/**
 * Wire shapes of a model's rollout: its traffic split, the comparison of two versions on stored
 * results, and the automatic rollbacks.
 *
 * Terms: a split sends the jobs that name no version to versions by weight ("routed" jobs). The
 * baseline is the live version (what LIVE names); a candidate is any other version in the split
 * or the shadow. A shadow version runs each routed job too, at lower priority; its result is kept
 * beside the primary's and never shown to the job's owner. A shadowed pair is one job's primary
 * result and its shadow result.
 */

const versionName = z.string().min(1).max(64);

/** Limits a candidate must keep; breaking one puts every job back on the baseline (reconciler). */
export const trafficRulesSchema = z
  .object({
    /** Highest share of a candidate's jobs (split or shadow) that may fail, 0..1. */
    maxErrorRate: z.number().min(0).max(1).optional(),
    /** Lowest top-1 agreement with the baseline on shadowed pairs, 0..1. */
    minAgreement: z.number().min(0).max(1).optional(),
    /** Highest p95 of the candidate's inference time, in ms. */
    maxP95Ms: z.number().positive().optional(),
    /** Jobs (and, for minAgreement, shadowed pairs) the candidate needs before any rule is judged. @defaultValue 100 */
    minJobs: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict()
  .meta({ id: 'TrafficRules' });

export const trafficWeightSchema = z
  .object({ version: versionName, weight: z.number().min(0).max(1_000_000) })
  .strict();

/** `PUT /v1/admin/models/{name}/traffic`. */
export const putTrafficBodySchema = z
  .object({
    /** Versions and their weights (any positive scale: 70/30 and 0.7/0.3 are the same split). */
    split: z.array(trafficWeightSchema).min(1).max(16),
    /** `user`: one user always gets the same version (a stable hash of model and user). @defaultValue 'none' */
    sticky: z.enum(['user', 'none']).optional(),
    /** A version that runs every routed job too, at lower priority, its result hidden. */
    shadow: versionName.optional(),
    rules: trafficRulesSchema.optional(),
  })
  .strict()
  .meta({ id: 'PutTrafficBody' });
export type PutTrafficBody = z.infer<typeof putTrafficBodySchema>;

/** The split as stored beside LIVE in the registry (`TRAFFIC.json`). */
export const trafficSplitSchema = z.object({
  split: z.array(trafficWeightSchema).min(1),
  sticky: z.enum(['user', 'none']),
  shadow: versionName.nullable(),
  rules: trafficRulesSchema.nullable(),
  /** The live version when the split was set: the comparison's and the rollback's baseline. */
  baseline: versionName,
  /** When it was set (ISO 8601); the comparison for the rules looks at jobs since then. */
  since: z.string(),
});
export type TrafficSplit = z.infer<typeof trafficSplitSchema>;
export type TrafficRules = z.infer<typeof trafficRulesSchema>;

export const modelRollbackSchema = z
  .object({
    id: z.string(),
    model: z.string(),
    baseline: z.string(),
    candidate: z.string(),
    rule: z.string(),
    reason: z.string(),
    at: z.string(),
  })
  .meta({ id: 'ModelRollback' });
export type ModelRollbackView = z.infer<typeof modelRollbackSchema>;

/** `GET /v1/admin/models/{name}/traffic`. */
export const trafficViewSchema = z
  .object({
    model: z.string(),
    liveVersion: z.string().nullable(),
    /** null: no split; every job that names no version runs on the live version. */
    traffic: z
      .object({
        split: z.array(
          z.object({
            version: z.string(),
            weight: z.number(),
            /** The weight's share of the total, 0..1. */
            share: z.number(),
            /** Live workers with this version loaded; a version none has loaded takes no traffic yet (its share goes to the baseline). */
            workersReady: z.number().int(),
          }),
        ),
        sticky: z.enum(['user', 'none']),
        shadow: z.object({ version: z.string(), workersReady: z.number().int() }).nullable(),
        rules: trafficRulesSchema.nullable(),
        baseline: z.string(),
        since: z.string(),
      })
      .nullable(),
    /** The latest automatic rollbacks of this model, newest first. */
    rollbacks: z.array(modelRollbackSchema),
  })
  .meta({ id: 'TrafficView' });
export type TrafficView = z.infer<typeof trafficViewSchema>;

export const versionFiguresSchema = z.object({
  version: z.string(),
  /** Jobs this version finished as the primary (routed or named), and shadow runs it made. */
  jobs: z.number().int(),
  shadowRuns: z.number().int(),
  failed: z.number().int(),
  /** failed / (jobs + shadowRuns); null when it ran nothing. */
  errorRate: z.number().nullable(),
  /** Inference time (the model batch the job ran in), ms; null when it ran nothing. */
  p50Ms: z.number().nullable(),
  p95Ms: z.number().nullable(),
});

/** `GET /v1/admin/models/{name}/compare?baseline=A&candidate=B`. */
export const modelComparisonSchema = z
  .object({
    model: z.string(),
    /** The jobs looked at finished at or after this (ISO 8601). */
    since: z.string(),
    baseline: versionFiguresSchema,
    candidate: versionFiguresSchema,
    shadow: z.object({
      /** Jobs where one version ran as the primary and the other as its shadow, both successfully. */
      pairs: z.number().int(),
      /** Share of pairs with the same top-1 label, 0..1; null without pairs. */
      agreement: z.number().nullable(),
      /** Mean and max over pairs of the largest absolute difference between the two score vectors. */
      meanAbsScoreDiff: z.number().nullable(),
      maxAbsScoreDiff: z.number().nullable(),
    }),
  })
  .meta({ id: 'ModelComparison' });
export type ModelComparison = z.infer<typeof modelComparisonSchema>;
export type VersionFigures = z.infer<typeof versionFiguresSchema>;

/** The body of the `model.rolled_back` webhook sent to administrators. */
export const modelRolledBackEventSchema = z.object({
  type: z.literal('model.rolled_back'),
  rollback: modelRollbackSchema,
  comparison: modelComparisonSchema,
});
export type ModelRolledBackEvent = z.infer<typeof modelRolledBackEventSchema>;
