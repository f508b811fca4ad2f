import { randomUUID } from 'node:crypto';
import { open, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { getBlocking, isMissing, putBlocking } from './blockingFiles.ts';
import {
  BlobTooLargeError,
  checkBlobKey,
  checkBlobPrefix,
  type BlobInfo,
  type BlobStore,
  type PresignedPut,
  type PresignPutOptions,
} from './blobStore.ts';
import { FileWriterThread } from './fileWriterThread.ts';

/** The default of {@link FileBlobStoreOptions.blockingMaxBytes}. */
export const defaultBlockingMaxBytes = 1024 * 1024;

export interface FileBlobStoreOptions {
  /**
   * Blobs up to this many bytes are written and read with blocking calls on the calling thread;
   * larger ones, and every other operation, go through libuv's thread pool. Each step of an
   * asynchronous write or read (open, stat, read or write, close, rename) is a trip to a pool
   * thread and back, with two wake-ups each. For a 130 kB input on a local disk that cost 197 µs
   * of CPU a write and 203 µs a read, against 77 and 66 µs blocking (`pnpm bench blobstore`),
   * which then hold the event loop for about as long. 0: never block (a folder on a network file
   * system, where one call may wait on the network). @defaultValue {@link defaultBlockingMaxBytes} (1 MiB)
   */
  blockingMaxBytes?: number;
  /**
   * Asked before each blocking call; false sends that one elsewhere: a write to the writer thread
   * when there is one, else each call through the pool. The API answers from its event loop's
   * recent load, so that a loop with no time to spare hands its writes to another thread.
   * @defaultValue always true
   */
  mayBlock?: () => boolean;
  /**
   * A write up to `blockingMaxBytes` that may not block goes to a thread of its own
   * (FileWriterThread): one message there and back instead of a pool round trip a step.
   * @defaultValue false: through the pool
   */
  writerThread?: boolean;
}

/**
 * Blobs as files under one folder (the embedded default: `pnpm start` keeps them in its data
 * folder). Each write goes to a temporary name in the same folder and is renamed into place, so a
 * reader sees the whole blob or none. It cannot presign: uploads PUT to the API itself.
 */
export class FileBlobStore implements BlobStore {
  readonly kind = 'file' as const;
  readonly root: string;
  /** Blobs up to this size are written and read with blocking calls (FileBlobStoreOptions). */
  readonly blockingMaxBytes: number;

  readonly #mayBlock: () => boolean;
  readonly #writer: FileWriterThread | undefined;

  constructor(root: string, options: FileBlobStoreOptions = {}) {
    this.root = path.resolve(root);
    this.blockingMaxBytes = options.blockingMaxBytes ?? defaultBlockingMaxBytes;
    this.#mayBlock = options.mayBlock ?? (() => true);
    this.#writer = options.writerThread ? new FileWriterThread() : undefined;
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
    if (body.byteLength <= this.blockingMaxBytes) {
      if (this.#mayBlock()) return putBlocking(target, temporary, body);
      if (this.#writer) return this.#writer.write(target, temporary, body);
    }
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
    if (this.blockingMaxBytes > 0 && this.#mayBlock()) {
      const read = getBlocking(this.#path(key), this.blockingMaxBytes, options.maxBytes);
      if (read !== 'larger') return read;
    }
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

  async close(): Promise<void> {
    await this.#writer?.close();
  }
}
