-- AlterTable
-- The version a traffic split sent a job to at submit (null: the job named a version, or no split
-- was set). Nullable and without a default: adding it rewrites no rows.
ALTER TABLE "jobs" ADD COLUMN     "routed_version" TEXT;

-- CreateTable
-- What a shadow version made of a routed job's input, beside the primary's result: never shown to
-- the job's owner, read only by the rollout comparison.
CREATE TABLE "job_shadow_results" (
    "job_id" UUID NOT NULL,
    "model_name" TEXT NOT NULL,
    "model_version" TEXT NOT NULL,
    "output" JSONB,
    "labels" JSONB,
    "error_code" TEXT,
    "inference_ms" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_shadow_results_pkey" PRIMARY KEY ("job_id","model_version")
);

-- CreateTable
-- Each automatic rollback: which candidate lost its traffic, to which baseline, and the rule and
-- figures that decided it.
CREATE TABLE "model_rollbacks" (
    "id" UUID NOT NULL,
    "model_name" TEXT NOT NULL,
    "baseline" TEXT NOT NULL,
    "candidate" TEXT NOT NULL,
    "rule" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "figures" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "model_rollbacks_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "job_shadow_results_model_name_model_version_created_at_idx" ON "job_shadow_results"("model_name", "model_version", "created_at");

-- CreateIndex
CREATE INDEX "model_rollbacks_model_name_created_at_idx" ON "model_rollbacks"("model_name", "created_at");

-- CreateIndex
-- The comparison's read: a model's finished jobs, by version, since the split was set.
CREATE INDEX "jobs_model_name_finished_at_idx" ON "jobs"("model_name", "finished_at");

-- AddForeignKey
ALTER TABLE "job_shadow_results" ADD CONSTRAINT "job_shadow_results_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
