-- AlterTable
-- A constant default, so no table rewrite: every existing webhook keeps receiving its final state only.
ALTER TABLE "jobs" ADD COLUMN     "webhook_events" TEXT[] NOT NULL DEFAULT ARRAY['completed']::TEXT[];

-- AlterTable
ALTER TABLE "webhook_deliveries" ADD COLUMN     "event" TEXT NOT NULL DEFAULT 'completed';


-- Webhook secrets in standard base64, as Standard Webhooks libraries read them: the same bytes,
-- so signatures keyed with them do not change (the InferQ-Signature header keeps the URL-safe form).
UPDATE "users" SET "webhook_secret" = 'whsec_' || translate(substr("webhook_secret", 7), '-_', '+/') WHERE "webhook_secret" LIKE 'whsec\_%';
