import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderSettingsPage, settingsPagePath, undescribedSettings } from './settingsPage.ts';

// `pnpm docs:settings`: writes docs/operating/settings.md from the env schemas.
const missing = undescribedSettings();
if (missing.length > 0) {
  process.stderr.write(`settings without a .describe() text:\n  ${missing.join('\n  ')}\n`);
  process.exit(1);
}
const target = path.resolve(import.meta.dirname, '../..', settingsPagePath);
await writeFile(target, renderSettingsPage());
process.stdout.write(`wrote ${settingsPagePath}\n`);
