import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The fenced code blocks of the documentation, and which of them CI runs. A block is a
 * documented command when its language is a shell, TypeScript/JavaScript or Python; it runs in
 * CI when its info string also says `runnable` (```` ```bash runnable ````), and
 * `test/docs/runnableDocs.test.ts` then runs it against a real API and worker.
 */

export const repoRoot = path.resolve(import.meta.dirname, '../..');

/** The languages of a documented command, by the fence's info string; each maps to how it runs. */
const commandLanguages: Record<string, RunnableLanguage> = {
  sh: 'bash',
  bash: 'bash',
  shell: 'bash',
  console: 'bash',
  ts: 'ts',
  typescript: 'ts',
  js: 'ts',
  javascript: 'ts',
  python: 'python',
  py: 'python',
};

export type RunnableLanguage = 'bash' | 'ts' | 'python';

export interface DocBlock {
  page: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The info string's first word (`bash`, `ts`, `json`, or '' when there is none). */
  language: string;
  /** How it runs when it is a command: a shell, TypeScript or Python; null for output, JSON, YAML, … */
  runsAs: RunnableLanguage | null;
  runnable: boolean;
  script: string;
}

/** Every fenced block of a page, in order (indented fences included, as in a list item). */
export function fencedBlocks(page: string, markdown: string): DocBlock[] {
  const blocks: DocBlock[] = [];
  const lines = markdown.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^`\s]*)\s*(.*)$/.exec(lines[index]!);
    if (!open) continue;
    const [, indent = '', fence = '', language = '', rest = ''] = open;
    const body: string[] = [];
    let end = index + 1;
    while (end < lines.length && !lines[end]!.trimStart().startsWith(fence)) body.push(lines[end++]!);
    if (end === lines.length) throw new Error(`${page}:${index + 1}: a fenced block is never closed`);
    const lower = language.toLowerCase();
    blocks.push({
      page,
      line: index + 1,
      language: lower,
      runsAs: commandLanguages[lower] ?? null,
      runnable: /(^|\s)runnable(\s|$)/.test(rest),
      script: body.map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line)).join('\n'),
    });
    index = end;
  }
  return blocks;
}

/** README.md and every page under docs/, repository-relative, sorted. */
export function documentedPages(root = repoRoot): string[] {
  const pages = ['README.md'];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(path.join(root, folder), { withFileTypes: true })) {
      const relative = path.posix.join(folder, entry.name);
      if (entry.isDirectory()) walk(relative);
      else if (entry.name.endsWith('.md')) pages.push(relative);
    }
  };
  walk('docs');
  return pages.sort();
}

export interface DocsCoverage {
  pages: { page: string; commands: number; runnable: number }[];
  commands: number;
  runnable: number;
}

/** How many documented commands there are, and how many of them CI runs. */
export function docsCoverage(root = repoRoot): DocsCoverage {
  const pages = documentedPages(root).map((page) => {
    const commands = fencedBlocks(page, readFileSync(path.join(root, page), 'utf8')).filter(
      (block) => block.runsAs !== null,
    );
    return { page, commands: commands.length, runnable: commands.filter((block) => block.runnable).length };
  });
  return {
    pages,
    commands: pages.reduce((sum, page) => sum + page.commands, 0),
    runnable: pages.reduce((sum, page) => sum + page.runnable, 0),
  };
}

export function formatDocsCoverage(coverage: DocsCoverage): string {
  const width = Math.max(...coverage.pages.map((page) => page.page.length));
  const rows = coverage.pages
    .filter((page) => page.commands > 0)
    .map(
      (page) =>
        `  ${page.page.padEnd(width)}  ${String(page.runnable).padStart(3)} of ${String(page.commands).padStart(3)}`,
    );
  const share = coverage.commands === 0 ? 0 : Math.round((100 * coverage.runnable) / coverage.commands);
  return [
    `documented commands run by CI (shell, TypeScript, JavaScript and Python blocks):`,
    ...rows,
    `  ${'all'.padEnd(width)}  ${String(coverage.runnable).padStart(3)} of ${String(coverage.commands).padStart(3)}  (${share}%)`,
  ].join('\n');
}
