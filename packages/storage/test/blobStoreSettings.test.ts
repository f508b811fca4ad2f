import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  blobStoreEnvShape,
  blobStoreSettingsFromEnv,
  createBlobStore,
  defaultBlobStoreUrl,
  FileBlobStore,
} from '../src/index.ts';

const schema = z.object(blobStoreEnvShape);
const settingsOf = (env: Record<string, string>) => blobStoreSettingsFromEnv(schema.parse(env));

describe('BLOB_STORE_URL', () => {
  it("is the checkout's .inferq/blobs folder when unset, the same for every process started from it", () => {
    const settings = settingsOf({});
    expect(settings?.url).toBe(defaultBlobStoreUrl);
    const store = createBlobStore(settings!);
    expect(store).toBeInstanceOf(FileBlobStore);
    const checkout = path.resolve(fileURLToPath(new URL('../../..', import.meta.url)));
    expect((store as FileBlobStore).root).toBe(path.join(checkout, '.inferq', 'blobs'));
  });

  it('keeps inputs in Postgres when set to postgres (no store)', () => {
    expect(settingsOf({ BLOB_STORE_URL: 'postgres' })).toBeUndefined();
  });

  it('takes file:// and s3:// URLs as they are', () => {
    expect(settingsOf({ BLOB_STORE_URL: 'file:///var/lib/inferq/blobs/' })?.url).toBe('file:///var/lib/inferq/blobs/');
    expect(settingsOf({ BLOB_STORE_URL: 's3://bucket/prefix', BLOB_STORE_REGION: 'eu-west-1' })).toMatchObject({
      url: 's3://bucket/prefix',
      region: 'eu-west-1',
    });
  });

  it('refuses anything else at boot', () => {
    expect(() => schema.parse({ BLOB_STORE_URL: 'postgresql://x' })).toThrow(/file:\/\/ or s3:\/\/ URL, or postgres/);
    expect(() => schema.parse({ BLOB_STORE_URL: '/var/lib/blobs' })).toThrow();
  });
});
