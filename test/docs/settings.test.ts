import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@inferq/testing';
import {
  renderSettingsPage,
  settingNames,
  settingsPagePath,
  undescribedSettings,
} from '../../scripts/docs/settingsPage.ts';

// docs/operating/settings.md is written from the env schemas (`pnpm docs:settings`): a setting
// added without a `.describe()` text, or a page not written again after a schema changed, fails here.
describe('the settings page', () => {
  it('has a description for every field of every env schema', () => {
    expect(undescribedSettings()).toEqual([]);
  });

  it('is what `pnpm docs:settings` writes from the schemas today', async () => {
    const onDisk = await readFile(path.join(repoRoot, settingsPagePath), 'utf8');
    expect(onDisk, 'docs/operating/settings.md is stale: run `pnpm docs:settings`').toBe(renderSettingsPage());
  });

  it('lists every setting name of every process', async () => {
    const onDisk = await readFile(path.join(repoRoot, settingsPagePath), 'utf8');
    const names = settingNames();
    expect(names).toEqual(
      expect.arrayContaining([
        'DATABASE_URL',
        'WORKER_PROCESSES',
        'WEBHOOK_ATTEMPTS',
        'INFERQ_DATA_DIR',
        'ORT_PROVIDER',
      ]),
    );
    for (const name of names) expect(onDisk, name).toContain(`| \`${name}\` |`);
  });
});
