-- AlterTable
ALTER TABLE "job_inputs" ADD COLUMN     "pixels" BYTEA,
ADD COLUMN     "pixels_spec" TEXT;


-- Raw pixels compress somewhat, but pglz on every 150 kB row costs the server more CPU than the
-- bytes cost on disk for the days an input is kept: stored out of line uncompressed, like "data".
ALTER TABLE "job_inputs" ALTER COLUMN "pixels" SET STORAGE EXTERNAL;
