-- AlterEnum
-- A final status: a job that did not start within its ttl. ADD VALUE rewrites nothing.
ALTER TYPE "JobStatus" ADD VALUE 'expired';

-- AlterTable
-- Nullable and without a default: adding them rewrites no rows, and older jobs have no deadlines.
ALTER TABLE "jobs" ADD COLUMN     "start_by" TIMESTAMPTZ(3),
ADD COLUMN     "cancel_after_ms" INTEGER;

-- CreateIndex
-- Only queued jobs with a ttl: the sweep of jobs past their start_by reads this index alone, and
-- jobs without a ttl (most) cost it nothing. Partial, so not expressible in schema.prisma.
CREATE INDEX "jobs_start_by_queued" ON "jobs" ("start_by") WHERE "status" = 'queued' AND "start_by" IS NOT NULL;
