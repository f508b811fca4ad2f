import { parseArgs } from 'node:util';
import { countInputsByPlace, moveInputsToBlobs, type Database } from '@inferq/db';
import { inputBlobKey, type BlobStore } from '@inferq/storage';
import type { CommandOutput } from './adminCommands.ts';

export const storageUsage = `pnpm admin storage: job inputs in the blob store (BLOB_STORE_URL, as for the API and workers)

  storage status                   how many inputs are in Postgres and how many in the blob store
  storage move-inputs [--batch N]  copy every input still in Postgres to the blob store, then clear
                                   its bytes from Postgres; safe to stop and run again. Run VACUUM
                                   (FULL to give the space back to the disk) on job_inputs after.

  --json                           print JSON`;

/** `pnpm admin storage …`: moves inputs out of Postgres into the configured blob store. */
export async function runStorageCommand(
  argv: string[],
  db: Database,
  store: BlobStore | undefined,
  out: CommandOutput,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      batch: { type: 'string', default: '100' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [, verb] = positionals;
  if (values.help || (verb !== 'status' && verb !== 'move-inputs')) {
    out.write(`${storageUsage}\n`);
    return values.help ? 0 : 2;
  }
  const print = (value: unknown, text: string) => out.write(values.json ? `${JSON.stringify(value)}\n` : `${text}\n`);
  if (verb === 'status') {
    const counts = await countInputsByPlace(db);
    print(
      { ...counts, blobStore: store?.location ?? null },
      `inputs in Postgres: ${counts.inPostgres}; in the blob store: ${counts.inBlobStore} (${store?.location ?? 'BLOB_STORE_URL not set'})`,
    );
    return 0;
  }
  if (!store) {
    out.write('set BLOB_STORE_URL (and its credentials) as for the API and workers\n');
    return 2;
  }
  const batchSize = Number(values.batch);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    out.write('--batch must be an integer from 1 to 10000\n');
    return 2;
  }
  const { moved } = await moveInputsToBlobs(db, store, {
    keyOf: inputBlobKey,
    batchSize,
    onProgress: (count) => values.json || out.write(`moved ${count}\n`),
  });
  const counts = await countInputsByPlace(db);
  print(
    { moved, ...counts, blobStore: store.location },
    `moved ${moved} inputs to ${store.location}; ${counts.inPostgres} left in Postgres`,
  );
  return 0;
}
