import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@inferq/testing';

/**
 * Pages other branches of this release add. On a branch without them a link to one is allowed to
 * point at nothing; once every branch is merged this list is emptied, and a missing page fails.
 */
const pagesOnOtherBranches = new Set<string>([]);

function markdownFiles(dir: string): string[] {
  return readdirSync(path.join(repoRoot, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(relative);
    return entry.name.endsWith('.md') ? [relative] : [];
  });
}

/** The pages checked: the front door, the manual, and the pages beside code that the manual links to. */
const pages = [
  'README.md',
  'CHANGELOG.md',
  'bench/README.md',
  'apps/api/test/README.md',
  'deploy/kubernetes/README.md',
  ...markdownFiles('docs'),
];

/** Markdown without fenced blocks and inline code, where a bracket is not a link. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of prose(headingSource(markdown)).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const text = match[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

function headingSource(markdown: string): string {
  // Keep the text of code spans in headings (GitHub slugs it), drop them elsewhere.
  return markdown.replace(/^(#{1,6}[ \t].*)$/gm, (line) => line.replaceAll('`', ''));
}

interface Link {
  page: string;
  target: string;
}

function linksOf(page: string): Link[] {
  const text = prose(headingSource(readFileSync(path.join(repoRoot, page), 'utf8')));
  return [...text.matchAll(/\]\(([^)\s]*)(?:\s+"[^"]*")?\)/g)].map((match) => ({ page, target: match[1]! }));
}

/** Why a link does not resolve, or null when it does. */
function brokenReason({ page, target }: Link): string | null {
  if (target === '') return 'an empty link';
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return null; // https:, mailto:: not checked here
  const [file, anchor] = target.split('#', 2) as [string, string | undefined];
  const resolved = file === '' ? page : path.normalize(path.join(path.dirname(page), decodeURIComponent(file)));
  if (resolved.startsWith('..')) return 'outside the repository';
  const absolute = path.join(repoRoot, resolved);
  if (!existsSync(absolute)) return pagesOnOtherBranches.has(resolved) ? null : `${resolved} does not exist`;
  if (anchor === undefined || statSync(absolute).isDirectory() || !resolved.endsWith('.md')) return null;
  const anchors = headingAnchors(readFileSync(absolute, 'utf8'));
  return anchors.has(anchor) ? null : `no heading #${anchor} in ${resolved}`;
}

describe('links in README.md and docs/', () => {
  it('finds the pages and their links', () => {
    expect(pages).toEqual(
      expect.arrayContaining(['README.md', 'docs/README.md', 'docs/getting-started.md', 'docs/operating/settings.md']),
    );
    expect(pages.flatMap(linksOf).length).toBeGreaterThan(100);
  });

  it.each(pages)('every relative link and anchor in %s resolves', (page) => {
    const broken = linksOf(page)
      .map((link) => ({ target: link.target, reason: brokenReason(link) }))
      .filter((link) => link.reason !== null);
    expect(broken).toEqual([]);
  });

  it('slugs headings as GitHub does', () => {
    const anchors = headingAnchors(
      '# The REST API (`/v1`)\n## Bringing a PyTorch (or any ONNX) model\n## Tiers\n## Tiers\n',
    );
    expect([...anchors]).toEqual(['the-rest-api-v1', 'bringing-a-pytorch-or-any-onnx-model', 'tiers', 'tiers-1']);
  });

  it('lets only the listed pages of other branches be missing', () => {
    expect(brokenReason({ page: 'docs/README.md', target: 'api/v2.md' })).toBeNull();
    expect(brokenReason({ page: 'docs/README.md', target: 'api/v3.md' })).toBe('docs/api/v3.md does not exist');
    expect(brokenReason({ page: 'README.md', target: '' })).toBe('an empty link');
    expect(brokenReason({ page: 'README.md', target: 'docs/concepts/jobs.md#no-such-heading' })).toBe(
      'no heading #no-such-heading in docs/concepts/jobs.md',
    );
  });
});
