// The replies of a benchmark's child process over IPC (rawChild.ts, floodChild.ts), in order.
import type { ChildProcess } from 'node:child_process';

/**
 * Each `next()` is the child's next reply, whether it came before the call or after; once the
 * process has exited with no reply left, `next()` rejects (as does a call waiting when it exits).
 */
export class ChildReplies<R> {
  readonly #child: ChildProcess;
  readonly #name: string;
  readonly #early: R[] = [];
  #waiting: { resolve: (reply: R) => void; reject: (error: Error) => void } | null = null;

  /** `name` says which process in errors: `raw benchmark process exited with 1`. */
  constructor(child: ChildProcess, name: string) {
    this.#child = child;
    this.#name = name;
    child.on('message', (reply: R) => {
      const waiting = this.#waiting;
      this.#waiting = null;
      if (waiting) waiting.resolve(reply);
      else this.#early.push(reply);
    });
    child.once('exit', (code) => {
      const waiting = this.#waiting;
      this.#waiting = null;
      waiting?.reject(new Error(`${name} exited with ${code}`));
    });
  }

  next(): Promise<R> {
    const early = this.#early.shift();
    if (early) return Promise.resolve(early);
    if (this.#child.exitCode !== null)
      return Promise.reject(new Error(`${this.#name} exited with ${this.#child.exitCode}`));
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }
}
