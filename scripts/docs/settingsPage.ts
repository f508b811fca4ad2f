import { adminEnvSchema } from '../../apps/admin/src/env.ts';
import { apiEnvSchema } from '../../apps/api/src/env.ts';
import { embeddedPostgresEnvSchema, stackEnvSchema } from '../../apps/stack/src/env.ts';
import { dispatcherEnvSchema } from '../../apps/webhooks/src/env.ts';
import { workerEnvSchema } from '../../apps/worker/src/env.ts';
import { commonEnvSchema } from '../../packages/core/src/env.ts';

/**
 * docs/operating/settings.md, written from the zod env schemas: each field's `.describe()` text is
 * its documentation, so a setting cannot be added without it or documented twice.
 * `pnpm docs:settings` writes the page; test/docs/settings.test.ts fails when it is stale.
 */

/** Where the page lives, relative to the repository root. */
export const settingsPagePath = 'docs/operating/settings.md';

/** What this page reads of a zod schema (the root has no zod of its own: the apps do). */
interface FieldSchema {
  meta(): object | undefined;
  _zod: { def: object };
}

interface SettingsProcess {
  title: string;
  /** The file that holds the schema, relative to the repository root. */
  source: string;
  intro: string;
  shape: Record<string, FieldSchema>;
}

/** Every process that reads settings, in the order the page lists them. */
export const settingsProcesses: SettingsProcess[] = [
  {
    title: 'API',
    source: 'apps/api/src/env.ts',
    intro: 'The HTTP API (`node apps/api/src/index.ts`).',
    shape: apiEnvSchema.shape,
  },
  {
    title: 'Worker',
    source: 'apps/worker/src/env.ts',
    intro:
      'The inference worker (`node apps/worker/src/index.ts`) and, with `WORKER_PROCESSES` above 1, its supervisor.',
    shape: workerEnvSchema.shape,
  },
  {
    title: 'Webhook dispatcher',
    source: 'apps/webhooks/src/env.ts',
    intro: 'Delivers webhooks (`node apps/webhooks/src/index.ts`).',
    shape: dispatcherEnvSchema.shape,
  },
  {
    title: 'pnpm start',
    source: 'apps/stack/src/env.ts',
    intro:
      'The whole platform on one machine. Anything else set in its environment (`TIER_OVERRIDES`, say) reaches the API, worker and dispatcher it starts unchanged.',
    shape: stackEnvSchema.shape,
  },
  {
    title: 'Admin CLI',
    source: 'apps/admin/src/env.ts',
    intro: '`pnpm admin …` (`node apps/admin/src/index.ts …` in the Docker image).',
    shape: adminEnvSchema.shape,
  },
  {
    title: 'Embedded Postgres',
    source: 'apps/stack/src/env.ts',
    intro: 'The Postgres process `pnpm start` runs when no `DATABASE_URL` is given; `pnpm start` sets these itself.',
    shape: embeddedPostgresEnvSchema.shape,
  },
];

const commonShape: Record<string, FieldSchema> = commonEnvSchema.shape;

interface FieldMeta {
  description?: string;
  /** Shown instead of a default computed on this machine (`WORKER_ID`). */
  defaultText?: string;
}

function metaOf(schema: FieldSchema): FieldMeta {
  return (schema.meta() ?? {}) as FieldMeta;
}

/** The default a field's schema gives when the setting is unset, looking through pipes and transforms. */
function defaultOf(
  schema: FieldSchema,
): { kind: 'default'; value: unknown } | { kind: 'optional' } | { kind: 'required' } {
  const def = schema._zod.def as { type: string; defaultValue?: unknown; in?: FieldSchema; innerType?: FieldSchema };
  if (def.type === 'default') return { kind: 'default', value: def.defaultValue };
  if (def.type === 'optional') return { kind: 'optional' };
  if (def.type === 'pipe' && def.in) return defaultOf(def.in);
  return { kind: 'required' };
}

function defaultCell(schema: FieldSchema): string {
  const shown = metaOf(schema).defaultText;
  if (shown !== undefined) return `\`${shown}\``;
  const found = defaultOf(schema);
  if (found.kind === 'optional') return 'unset';
  if (found.kind === 'required') return 'required';
  const value = found.value;
  if (value === '' || (Array.isArray(value) && value.length === 0)) return 'none';
  return `\`${Array.isArray(value) ? value.join(',') : String(value)}\``;
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

function table(shape: Record<string, FieldSchema>, names: string[]): string[] {
  const rows = ['| setting | default | what it does |', '|---|---|---|'];
  for (const name of names) {
    const schema = shape[name];
    if (!schema) continue;
    rows.push(`| \`${name}\` | ${defaultCell(schema)} | ${cell(metaOf(schema).description ?? '')} |`);
  }
  return rows;
}

/** `Process: NAME` for every field of every schema that has no `.describe()` text. */
export function undescribedSettings(): string[] {
  const missing: string[] = [];
  const all: Array<[string, Record<string, FieldSchema>]> = [
    ['shared', commonShape],
    ...settingsProcesses.map((process): [string, Record<string, FieldSchema>] => [process.title, process.shape]),
  ];
  for (const [title, shape] of all) {
    for (const [name, schema] of Object.entries(shape)) {
      if (!metaOf(schema).description?.trim()) missing.push(`${title}: ${name}`);
    }
  }
  return missing;
}

/** Every distinct setting name, across every process. */
export function settingNames(): string[] {
  const names = new Set<string>(Object.keys(commonShape));
  for (const process of settingsProcesses) for (const name of Object.keys(process.shape)) names.add(name);
  return [...names].sort();
}

function isShared(process: SettingsProcess, name: string): boolean {
  return process.shape[name] === commonShape[name];
}

export function renderSettingsPage(): string {
  const lines: string[] = [
    '# Settings',
    '',
    '<!-- Written by `pnpm docs:settings` from the zod env schemas. Edit the `.describe()` texts there, then run it again. -->',
    '',
    'Every process reads its settings from the environment once, at start, through one zod schema',
    '(`env.ts` in each app), and a typo or a value out of range stops it with one message naming the',
    'setting. Nothing else reads the environment. This page is written from those schemas, so it lists',
    `every setting there is: ${settingNames().length} names, each documented once.`,
    '',
    'The clients read their own: the CLI `INFERQ_BASE_URL` and `INFERQ_API_KEY` (see',
    '[clients](../api/clients.md)).',
    '',
    '## Shared by every process',
    '',
    'Defined once in `packages/core/src/env.ts`, with the same default everywhere. Which process reads',
    'which is said under each process below.',
    '',
    ...table(commonShape, Object.keys(commonShape)),
  ];
  for (const process of settingsProcesses) {
    const names = Object.keys(process.shape);
    const shared = names.filter((name) => isShared(process, name));
    const own = names.filter((name) => !isShared(process, name));
    lines.push('', `## ${process.title}`, '', `${process.intro} Schema: \`${process.source}\`.`);
    if (shared.length > 0) {
      const all = shared.length === Object.keys(commonShape).length;
      lines.push(
        '',
        all
          ? 'Reads every shared setting, and these:'
          : `Reads the shared ${shared.map((name) => `\`${name}\``).join(', ')}, and these:`,
      );
    }
    lines.push('', ...table(process.shape, own));
  }
  return `${lines.join('\n')}\n`;
}
