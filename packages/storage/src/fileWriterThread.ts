import { Worker } from 'node:worker_threads';

/** A write the thread is asked for. */
export interface WriteMessage {
  id: number;
  target: string;
  temporary: string;
  body: Uint8Array;
}

/** Its answer: nothing on success, else the error's message and code. */
export interface WrittenMessage {
  id: number;
  error?: { message: string; code?: string | undefined };
}

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
  /** Settled by resolve or reject. */
  written: Promise<void>;
  /** The thread it was sent to. */
  worker: Worker;
}

/**
 * Writes files whole on a thread of its own: a write is one message there and one back. Through
 * libuv's thread pool each step (open, write, close, rename) is a round trip of its own, with a
 * wake-up of the event loop each, and while the loop is busy each waits for its turn. For a
 * 130 kB file the calling thread spends 26 µs a write here, against 76 µs through the pool and
 * 74 µs doing the blocking calls itself; both threads together 213 µs, against 197 and 77
 * (`pnpm bench blobstore`): worth it where the calling thread's event loop is the bottleneck.
 * One thread, started on the first write; it keeps no process alive while nothing is being
 * written.
 */
export class FileWriterThread {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #closed = false;
  readonly #script: URL;

  /** `script`: the thread's code. @defaultValue fileWriterThreadMain.ts (tests give another) */
  constructor(options: { script?: URL } = {}) {
    this.#script = options.script ?? new URL('./fileWriterThreadMain.ts', import.meta.url);
  }

  /** Writes `body` to `temporary`, then renames it to `target` (blockingFiles.ts' putBlocking). */
  write(target: string, temporary: string, body: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the file writer thread is closed'));
    const worker = this.#started();
    const id = this.#nextId++;
    let settle!: Pick<Pending, 'resolve' | 'reject'>;
    const written = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    this.#pending.set(id, { ...settle, written, worker });
    // While a write is pending the thread keeps the process alive, as a pool request would.
    if (this.#pending.size === 1) worker.ref();
    worker.postMessage({ id, target, temporary, body } satisfies WriteMessage);
    return written;
  }

  /** Stops the thread once the writes asked for so far are done. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#pending.values()].map((pending) => pending.written));
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(this.#script);
    worker.unref();
    worker.on('message', (message: WrittenMessage) => this.#settle(message));
    // A thread that fails or exits takes the writes it held with it (none of another thread's);
    // the next write starts another.
    const lost = (error: Error) => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const [id, pending] of this.#pending) {
        if (pending.worker !== worker) continue;
        this.#pending.delete(id);
        pending.reject(error);
      }
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`the file writer thread exited (code ${code})`)));
    this.#worker = worker;
    return worker;
  }

  #settle({ id, error }: WrittenMessage): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker?.unref();
    if (!error) return pending.resolve();
    pending.reject(Object.assign(new Error(error.message), error.code ? { code: error.code } : {}));
  }
}
