-- AlterTable
-- Nullable and without a default: adding it rewrites no rows, and jobs submitted before it show no name.
ALTER TABLE "jobs" ADD COLUMN     "input_file_name" TEXT;
