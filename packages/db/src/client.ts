import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '@prisma/client';

export interface DatabaseOptions {
  /** Postgres connection string. */
  url: string;
  /** Pool size of the pg driver. @defaultValue 10 */
  poolSize?: number;
  /** How long a query may wait for a pooled connection before it fails. @defaultValue 5000 */
  connectionTimeoutMs?: number;
}

export type Database = PrismaClient;

/** The one place a Prisma client is built; apps build it once and pass it in. */
export function createDatabase(options: DatabaseOptions): Database {
  const adapter = new PrismaPg({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
  });
  return new PrismaClient({ adapter });
}

export async function pingDatabase(db: Database): Promise<boolean> {
  try {
    await db.$queryRaw`SELECT 1`;
    return true;
  } catch {
    return false;
  }
}
