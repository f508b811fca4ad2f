import { z } from 'zod';

/**
 * What `pnpm start` (apps/stack) keeps in `<INFERQ_DATA_DIR>/state.json` (`.inferq/state.json`
 * by default; mode 0600), and what `pnpm admin` reads to find the stack's database and registry
 * without being told. Written by the stack only. A field it cannot read is dropped, never the
 * whole file: the password must survive, or the embedded Postgres would not open again.
 */
export const localStackStateSchema = z.object({
  /** The embedded Postgres's password, made once. */
  postgresPassword: z.string(),
  /** The administrator key the start banner prints. */
  apiKey: z.string().optional().catch(undefined),
  /** The database the stack last ran on (embedded, or the DATABASE_URL it was given). */
  databaseUrl: z.string().url().optional().catch(undefined),
  /** The model registry folder its API and workers share (absolute). */
  modelsDir: z.string().optional().catch(undefined),
});

export type LocalStackState = z.infer<typeof localStackStateSchema>;

export const localStackStateFileName = 'state.json';
