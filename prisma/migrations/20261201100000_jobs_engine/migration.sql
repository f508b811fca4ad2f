-- AlterTable
ALTER TABLE "jobs" ADD COLUMN     "engine" TEXT;
