#!/usr/bin/env bash
# Installs everything and runs the whole test suite. Uses DATABASE_URL / REDIS_URL when set
# (any Postgres 15+ and Redis 7+ server: the suite makes its own database and queue names);
# otherwise the suite starts both with testcontainers, which needs a Docker engine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
pnpm install --frozen-lockfile
# Compile-time checks first: the whole tree type-checks (the dashboard with its own settings) and
# lints at zero warnings (eslint.config.js: unused code, floating promises, import cycles).
pnpm typecheck
pnpm lint
# pnpm test includes the Python client's tests (clients/python: python3's unittest, against a real
# API and worker started by test/e2e/pythonClient.test.ts) and `pnpm start` (test/e2e/start.test.ts).
pnpm test "$@"
# Then the fault tests (test/faults: workers, Redis and Postgres killed mid-run; about 3 minutes;
# they need redis-server and Postgres' initdb/pg_ctl on this machine). Skipped when arguments
# narrowed the run, or with SKIP_FAULT_TESTS=1.
if [ "$#" -eq 0 ] && [ "${SKIP_FAULT_TESTS:-0}" != "1" ]; then
  pnpm test:faults
fi
