-- CreateTable: per model and minute, written by the reconciler leader (HistoryRecorder).
CREATE TABLE "model_history" (
    "model_name" TEXT NOT NULL,
    "minute" TIMESTAMPTZ(3) NOT NULL,
    "submitted" INTEGER NOT NULL DEFAULT 0,
    "succeeded" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "queue_wait_p50_ms" INTEGER,
    "queue_wait_p95_ms" INTEGER,
    "oldest_waiting_ms" INTEGER,
    "workers" INTEGER,

    CONSTRAINT "model_history_pkey" PRIMARY KEY ("model_name","minute")
);

-- CreateIndex
CREATE INDEX "model_history_minute_idx" ON "model_history"("minute");
