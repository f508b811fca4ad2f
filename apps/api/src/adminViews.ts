import type { Tier } from '@inferq/accounts';
import type { AdminJobView, ApiKeyView, TierView, UserView } from '@inferq/core';
import type { JobRecord } from '@inferq/db';
import { toJobView } from './jobView.ts';

function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}

interface UserRow {
  id: string;
  email: string;
  name: string | null;
  role: 'user' | 'admin';
  tier: string;
  createdAt: Date;
  disabledAt: Date | null;
}

interface ApiKeyRow {
  id: string;
  prefix: string;
  name: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** A user as administrators see it; never the webhook secret. */
export function toUserView(user: UserRow, jobsInFlight?: number): UserView {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    tier: user.tier,
    createdAt: user.createdAt.toISOString(),
    disabledAt: iso(user.disabledAt),
    ...(jobsInFlight !== undefined ? { jobsInFlight } : {}),
  };
}

/** A key without its secret (only a hash is stored anyway). */
export function toApiKeyView(key: ApiKeyRow): ApiKeyView {
  return {
    id: key.id,
    prefix: key.prefix,
    name: key.name,
    createdAt: key.createdAt.toISOString(),
    lastUsedAt: iso(key.lastUsedAt),
    revokedAt: iso(key.revokedAt),
  };
}

export function toTierView(tier: Tier): TierView {
  return { ...tier };
}

export function toAdminJobView(job: JobRecord): AdminJobView {
  return { ...toJobView(job), userId: job.userId };
}
