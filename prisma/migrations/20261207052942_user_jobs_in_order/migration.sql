-- The quota's index gains the priority: at each admission the count of a user's queued and
-- running jobs and the last priority among their queued ones are read from it alone. A new job's
-- priority is never below that last one, so one user's jobs run in the order they came.

-- DropIndex
DROP INDEX "jobs_user_id_status_idx";

-- CreateIndex
CREATE INDEX "jobs_user_id_status_priority_idx" ON "jobs"("user_id", "status", "priority");

