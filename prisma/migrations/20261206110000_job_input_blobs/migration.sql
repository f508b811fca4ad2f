-- Job inputs move to the blob store (BLOB_STORE_URL): the row keeps a reference, not the bytes.
-- Rows written before, or without a store, keep their bytes in `data` until
-- `pnpm admin storage move-inputs` copies them out and clears `data`.
ALTER TABLE "job_inputs" ADD COLUMN "blob_key" TEXT;
ALTER TABLE "job_inputs" ALTER COLUMN "data" DROP NOT NULL;
ALTER TABLE "job_inputs" ADD CONSTRAINT "job_inputs_bytes_or_blob" CHECK ("data" IS NOT NULL OR "blob_key" IS NOT NULL);
-- The move finds the rows still holding bytes without scanning the moved ones.
CREATE INDEX "job_inputs_unmoved_idx" ON "job_inputs" ("job_id") WHERE "blob_key" IS NULL;
