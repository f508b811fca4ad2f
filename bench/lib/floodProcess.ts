// A flooding client in a process of its own (floodChild.ts), driven from the benchmark's process.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ChildReplies } from './childReplies.ts';
import type { FloodCommand, FloodReply, FloodSetup } from './floodChild.ts';

export class FloodProcess {
  readonly #child: ChildProcess;
  readonly #replies: ChildReplies<FloodReply>;

  private constructor(setup: FloodSetup) {
    this.#child = fork(path.join(import.meta.dirname, 'floodChild.ts'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    this.#replies = new ChildReplies(this.#child, 'flood process');
    this.#child.send(setup);
  }

  /** Starts the process and waits until it is ready to send. */
  static async start(setup: FloodSetup): Promise<FloodProcess> {
    const flood = new FloodProcess(setup);
    await flood.#expect('ready');
    return flood;
  }

  async #expect<K extends FloodReply['kind']>(kind: K): Promise<Extract<FloodReply, { kind: K }>> {
    const reply = await this.#replies.next();
    if (reply.kind !== kind)
      throw new Error(`flood process: ${reply.kind === 'error' ? reply.message : `${reply.kind}, expected ${kind}`}`);
    return reply as Extract<FloodReply, { kind: K }>;
  }

  #send(command: FloodCommand): void {
    this.#child.send(command);
  }

  /** Starts keeping `clients` submits in flight; resolves once they are on their way. */
  async flood(clients: number): Promise<void> {
    this.#send({ cmd: 'flood', clients });
    await this.#expect('sent');
  }

  /** Stops the flood and answers how each of its submits was answered. */
  async stop(): Promise<Record<string, number>> {
    this.#send({ cmd: 'stop' });
    return (await this.#expect('done')).statuses;
  }

  /**
   * Sends `count` submits at once. Resolves once they are all handed to the sockets, with the
   * promise of how they were answered.
   */
  async burst(count: number): Promise<{ answered: Promise<Record<string, number>> }> {
    this.#send({ cmd: 'burst', count });
    await this.#expect('sent');
    return { answered: this.#expect('done').then((reply) => reply.statuses) };
  }

  async close(): Promise<void> {
    if (!this.#child.connected) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#send({ cmd: 'exit' });
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
