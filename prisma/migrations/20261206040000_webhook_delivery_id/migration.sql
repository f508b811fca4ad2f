-- AlterTable
-- The delivery id the receiver got in `webhook-id` / `InferQ-Delivery`, so the delivery log names
-- the same id. Nullable and without a default: adding it rewrites no rows.
ALTER TABLE "webhook_deliveries" ADD COLUMN     "delivery_id" UUID;
