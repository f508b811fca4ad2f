-- Client metadata on jobs, and the indexes that owner filters and operator search answer from.
-- pg_trgm ships with Postgres (contrib): the free-text search uses its GIN index for LIKE patterns.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- AlterTable: nullable without a default, so adding it rewrites no rows.
ALTER TABLE "jobs" ADD COLUMN "metadata" JSONB;

-- CreateIndex
CREATE INDEX "jobs_metadata_idx" ON "jobs" USING GIN ("metadata" jsonb_path_ops);
CREATE INDEX "jobs_model_name_created_at_idx" ON "jobs"("model_name", "created_at");
CREATE INDEX "jobs_error_code_created_at_idx" ON "jobs"("error_code", "created_at");

-- What the operators free-text search is matched against: the id, the file name and the metadata
-- values, lower-cased. IMMUTABLE (it reads only its arguments), so it can be indexed.
CREATE FUNCTION inferq_job_search_text(id uuid, file_name text, metadata jsonb) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN lower(concat_ws(' ', id::text, file_name, (SELECT string_agg(value, ' ') FROM jsonb_each_text(metadata))));

CREATE INDEX "jobs_search_trgm_idx" ON "jobs" USING GIN (inferq_job_search_text("id", "input_file_name", "metadata") gin_trgm_ops);

-- Redelivery of the webhook deliveries that failed in a time range.
CREATE INDEX "webhook_deliveries_created_at_idx" ON "webhook_deliveries"("created_at");
