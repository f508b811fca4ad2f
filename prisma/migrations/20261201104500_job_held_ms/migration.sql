-- AlterTable
-- Nullable and without a default: adding it rewrites no rows, and jobs that finished before it show no held time.
ALTER TABLE "jobs" ADD COLUMN     "held_ms" INTEGER;
