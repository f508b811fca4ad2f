import { randomUUID } from 'node:crypto';
import { open, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BlobTooLargeError,
  checkBlobKey,
  checkBlobPrefix,
  type BlobInfo,
  type BlobStore,
  type PresignedPut,
  type PresignPutOptions,
} from './blobStore.ts';

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Blobs as files under one folder (the embedded default: `pnpm start` keeps them in its data
 * folder). Each write goes to a temporary name in the same folder and is renamed into place, so a
 * reader sees the whole blob or none. It cannot presign: uploads PUT to the API itself.
 */
export class FileBlobStore implements BlobStore {
  readonly kind = 'file' as const;
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  get location(): string {
    return pathToFileURL(this.root).href;
  }

  #path(key: string): string {
    return path.join(this.root, ...checkBlobKey(key).split('/'));
  }

  async put(key: string, body: Buffer): Promise<void> {
    const target = this.#path(key);
    const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${randomUUID()}.tmp`);
    try {
      try {
        await writeFile(temporary, body);
      } catch (error) {
        // The folder is made on the first write into it (or again after it was removed), not on every write.
        if (!isMissing(error)) throw error;
        await mkdir(path.dirname(target), { recursive: true });
        await writeFile(temporary, body);
      }
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async get(key: string, options: { maxBytes?: number } = {}): Promise<Buffer | null> {
    if (options.maxBytes === undefined) {
      // One readFile: no size to check first (the job path's inputs were bounded when written).
      try {
        return await readFile(this.#path(key));
      } catch (error) {
        if (isMissing(error)) return null;
        throw error;
      }
    }
    let handle;
    try {
      handle = await open(this.#path(key), 'r');
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
    try {
      const { size } = await handle.stat();
      if (size > options.maxBytes) throw new BlobTooLargeError(size, options.maxBytes);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async stat(key: string): Promise<BlobInfo | null> {
    try {
      const info = await stat(this.#path(key));
      return info.isFile() ? { size: info.size, modifiedAt: info.mtime } : null;
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => rm(this.#path(key), { force: true })));
  }

  async list(prefix: string): Promise<string[]> {
    const folder = path.join(this.root, ...checkBlobPrefix(prefix).split('/').filter(Boolean));
    let entries;
    try {
      entries = await readdir(folder, { recursive: true, withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    return entries
      .filter((entry) => entry.isFile() && !entry.name.startsWith('.'))
      .map((entry) => path.relative(this.root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'));
  }

  async presignPut(_key: string, _options: PresignPutOptions): Promise<PresignedPut | null> {
    return null;
  }

  async close(): Promise<void> {}
}
