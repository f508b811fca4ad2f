import { docsCoverage, formatDocsCoverage } from './docBlocks.ts';

// `pnpm docs:coverage`: the share of documented commands (README.md and docs/) that CI runs.
process.stdout.write(`${formatDocsCoverage(docsCoverage())}\n`);
