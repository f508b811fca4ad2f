#!/usr/bin/env bash
# Installs everything and runs the whole test suite. Uses DATABASE_URL / REDIS_URL when set
# (any Postgres 15+ and Redis 7+ server: the suite makes its own database and queue names);
# otherwise the suite starts both with testcontainers, which needs a Docker engine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
pnpm install --frozen-lockfile
pnpm test "$@"
