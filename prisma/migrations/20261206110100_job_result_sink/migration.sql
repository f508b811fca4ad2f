-- The result sink: a job submitted with `resultPrefix` has its result JSON also written to
-- `results/<result_prefix>/<id>.json` in the blob store when it succeeds.
ALTER TABLE "jobs" ADD COLUMN "result_prefix" TEXT;
