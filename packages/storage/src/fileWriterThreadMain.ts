// The file writer thread (FileWriterThread): each message is one whole write, answered when done.
import { parentPort } from 'node:worker_threads';
import { putBlocking } from './blockingFiles.ts';
import type { WriteMessage, WrittenMessage } from './fileWriterThread.ts';

if (!parentPort) throw new Error('fileWriterThreadMain.ts runs as a worker thread');
const port = parentPort;
port.on('message', ({ id, target, temporary, body }: WriteMessage) => {
  let answer: WrittenMessage = { id };
  try {
    putBlocking(target, temporary, body);
  } catch (error) {
    answer = { id, error: { message: (error as Error).message, code: (error as NodeJS.ErrnoException).code } };
  }
  port.postMessage(answer);
});
