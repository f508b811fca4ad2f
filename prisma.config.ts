// Prisma CLI configuration. Uses the JavaScript schema engine through the pg driver adapter, so
// `prisma migrate deploy` runs without Prisma's downloaded Rust engines (see scripts/prisma.sh).
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { PrismaPg } from '@prisma/adapter-pg';

function connectionFields(url: string) {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username || 'postgres'),
    password: decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.slice(1) || 'postgres'),
    // Fields, not a connection string: with a string the shadow database points at the main one.
  };
}

const databaseUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/inferq';
const schema = new URL(databaseUrl).searchParams.get('schema') ?? undefined;

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
  adapter: async () => new PrismaPg(connectionFields(databaseUrl), schema ? { schema } : undefined),
});
