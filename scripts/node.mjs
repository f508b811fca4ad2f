// Runs one of the repository's TypeScript entry points after checking the Node version, so that a
// Node too old to run TypeScript says what to do instead of failing with ERR_UNKNOWN_FILE_EXTENSION.
//   node scripts/node.mjs apps/stack/src/index.ts [args…]
// Plain JavaScript that any Node parses: it must run before the version is known.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const required = [22, 18];
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < required[0] || (major === required[0] && minor < required[1])) {
  process.stderr.write(
    `InferQ needs Node ${required.join('.')} or newer (it runs its TypeScript sources directly); this is Node ${process.versions.node}.\n` +
      'Run `source scripts/env.sh` in this shell first: it puts a Node 24 and pnpm on PATH (installing them into .tools/ when needed).\n',
  );
  process.exit(1);
}

const entry = process.argv[2];
if (!entry) {
  process.stderr.write('usage: node scripts/node.mjs <entry.ts> [args…]\n');
  process.exit(2);
}
if (entry === '--check') process.exit(0);
// The entry sees itself as the script: process.argv = [node, entry, args…].
process.argv.splice(1, 2, path.resolve(entry));
await import(pathToFileURL(path.resolve(entry)).href);
