import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

export interface CliConfig {
  baseUrl: string;
  apiKey: string | undefined;
}

/** `$XDG_CONFIG_HOME/inferq/config.json`, by default `~/.config/inferq/config.json`. */
export function configPath(env: NodeJS.ProcessEnv): string {
  return path.join(env.XDG_CONFIG_HOME || path.join(homedir(), '.config'), 'inferq', 'config.json');
}

/** Flags win over the environment (INFERQ_BASE_URL, INFERQ_API_KEY), which wins over the config file. */
export async function loadConfig(
  flags: { baseUrl?: string | undefined; apiKey?: string | undefined },
  env: NodeJS.ProcessEnv,
): Promise<CliConfig> {
  let file: { baseUrl?: unknown; apiKey?: unknown } = {};
  try {
    file = JSON.parse(await readFile(configPath(env), 'utf8')) as typeof file;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error(`cannot read ${configPath(env)}: ${(error as Error).message}`, { cause: error });
  }
  const fromFile = (value: unknown) => (typeof value === 'string' && value ? value : undefined);
  return {
    baseUrl: flags.baseUrl || env.INFERQ_BASE_URL || fromFile(file.baseUrl) || 'http://localhost:3000',
    apiKey: flags.apiKey || env.INFERQ_API_KEY || fromFile(file.apiKey),
  };
}
