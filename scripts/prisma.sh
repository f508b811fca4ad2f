#!/usr/bin/env bash
# Runs the Prisma CLI offline. Prisma's Rust engines cannot be downloaded on every machine, and
# this project does not need them: the generated client uses `engineType = "client"` with the pg
# driver adapter, and prisma.config.ts selects the JavaScript schema engine. The CLI still checks
# that engine files exist, so both variables point at a harmless existing file.
#   bash scripts/prisma.sh generate
#   bash scripts/prisma.sh migrate deploy        (uses DATABASE_URL)
#   bash scripts/prisma.sh new-migration NAME    (writes prisma/migrations/<ts>_NAME from the schema diff)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
# Not executable on purpose: nothing may ever run it.
export PRISMA_QUERY_ENGINE_LIBRARY="${PRISMA_QUERY_ENGINE_LIBRARY:-$root/prisma/schema.prisma}"
export PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-$root/prisma/schema.prisma}"
export PRISMA_HIDE_UPDATE_MESSAGE=1
export CHECKPOINT_DISABLE=1
prisma=(pnpm exec prisma)

if [ "${1:-}" = "new-migration" ]; then
  name="${2:?usage: scripts/prisma.sh new-migration NAME}"
  previous="$(mktemp --suffix=.prisma)"
  # The schema as of the last commit that touched migrations, or empty for the first migration.
  if git log -1 --format=%H -- prisma/migrations >/dev/null 2>&1 && [ -n "$(git log -1 --format=%H -- prisma/migrations)" ]; then
    git show "$(git log -1 --format=%H -- prisma/migrations):prisma/schema.prisma" >"$previous"
    from=(--from-schema-datamodel "$previous")
  else
    from=(--from-empty)
  fi
  dir="prisma/migrations/$(date -u +%Y%m%d%H%M%S)_${name}"
  mkdir -p "$dir"
  "${prisma[@]}" migrate diff "${from[@]}" --to-schema-datamodel prisma/schema.prisma --script >"$dir/migration.sql"
  rm -f "$previous"
  echo "wrote $dir/migration.sql"
  exit 0
fi

exec "${prisma[@]}" "$@"
