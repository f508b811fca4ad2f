import { parseArgs } from 'node:util';
import type { AccountStore } from '@inferq/accounts';
import { AppError, createUserBodySchema, isUuid } from '@inferq/core';
import { exitCodeForError, UsageError } from './commandErrors.ts';

export const usage = `pnpm admin (in the Docker image: node apps/admin/src/index.ts): manage users and API keys

  The database is DATABASE_URL; unset, the one \`pnpm start\` runs on (from its .inferq/state.json).

  users create --email EMAIL [--name NAME] [--tier free|pro] [--role user|admin]
                                   create a user and print their first API key (shown once)
  users list                       list users
  users set-tier USER TIER         change a user's tier (USER: id or email); applies on the next request
  users disable USER               disable a user: every key of theirs stops at once (data kept)
  users enable USER                enable a disabled user again
  users duplicates                 accounts whose emails differ only in case (left apart, to resolve)
  keys issue USER [--name NAME]    issue another key for a user (shown once)
  keys list USER                   list a user's keys (prefixes only)
  keys revoke KEY_ID|PREFIX        revoke a key; it stops working at once (PREFIX: iq_<12 hex>)
  webhook-secrets reencrypt        store every webhook signing secret under the first key of
                                   WEBHOOK_SECRET_KEYS (secrets in clear, or under an older key);
                                   run after adding a key, before removing an old one

  models list|publish|set-live     the model registry (MODELS_DIR), and traffic splits
  models traffic                   over its versions: pnpm admin models --help
  storage status|move-inputs       job inputs in the blob store (BLOB_STORE_URL): pnpm admin storage --help

  --json                           print JSON`;

const keyPrefixPattern = /^iq_[0-9a-f]{12}$/;

export interface CommandOutput {
  write(text: string): void;
}

/** Runs one admin command. Returns the process exit code: 0 ok, 1 failure, 2 usage error. */
export async function runAdminCommand(argv: string[], accounts: AccountStore, out: CommandOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      email: { type: 'string' },
      name: { type: 'string' },
      tier: { type: 'string' },
      role: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const print = (value: unknown, text: string) =>
    out.write(values.json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  const [noun, verb, ...rest] = positionals;
  if (values.help || !noun) {
    out.write(`${usage}\n`);
    return values.help ? 0 : 2;
  }

  try {
    const findUser = async (idOrEmail: string | undefined) => {
      if (!idOrEmail) throw new UsageError('name a user by id or email');
      if (!idOrEmail.includes('@') && !isUuid(idOrEmail)) {
        throw new AppError(
          'VALIDATION_FAILED',
          `"${idOrEmail.slice(0, 100)}" is neither a user id (a UUID) nor an email`,
        );
      }
      const user = await accounts.findUser(idOrEmail);
      if (!user) throw new UsageError(`no user ${idOrEmail}`);
      return user;
    };

    if (noun === 'users' && verb === 'create') {
      if (!values.email) throw new UsageError('--email is required');
      const role = values.role ?? 'user';
      if (role !== 'user' && role !== 'admin') throw new UsageError('--role is user or admin');
      // The API's own check of POST /v1/admin/users: an address it would refuse is refused here too.
      const checked = createUserBodySchema.safeParse({
        email: values.email,
        name: values.name,
        tier: values.tier,
        role,
      });
      if (!checked.success) {
        const issues = checked.error.issues.map((issue) => `--${issue.path.join('.')}: ${issue.message}`);
        throw new AppError('VALIDATION_FAILED', issues.join('; '), {
          details: {
            issues: checked.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
          },
        });
      }
      const user = await accounts.createUser({ ...checked.data, tier: checked.data.tier ?? 'free' });
      const key = await accounts.issueKey(user.id, 'first key');
      print(
        { user: { id: user.id, email: user.email, role: user.role, tier: user.tier }, apiKey: key.key },
        `created ${user.role} ${user.email} (${user.id}), tier ${user.tier}\nAPI key (shown once, store it now):\n${key.key}`,
      );
      return 0;
    }
    if (noun === 'users' && verb === 'list') {
      const users = await accounts.listUsers();
      const duplicates = values.json ? [] : await accounts.emailCaseDuplicates();
      print(
        users.map((user) => ({
          id: user.id,
          email: user.email,
          role: user.role,
          tier: user.tier,
          createdAt: user.createdAt,
          disabledAt: user.disabledAt,
        })),
        [
          users
            .map(
              (user) => `${user.id}  ${user.email}  ${user.role}  ${user.tier}${user.disabledAt ? '  disabled' : ''}`,
            )
            .join('\n') || '(no users)',
          ...(duplicates.length > 0
            ? [
                `warning: ${duplicates.length} email(s) shared by accounts that differ only in case; see: users duplicates`,
              ]
            : []),
        ].join('\n'),
      );
      return 0;
    }
    if (noun === 'users' && verb === 'duplicates') {
      const duplicates = await accounts.emailCaseDuplicates();
      print(
        duplicates,
        duplicates
          .map((group) => `${group.email}: ${group.users.map((user) => `${user.id} ${user.email}`).join(', ')}`)
          .join('\n') || '(none: every email is one account)',
      );
      return 0;
    }
    if (noun === 'users' && (verb === 'disable' || verb === 'enable')) {
      const user = await findUser(rest[0]);
      const updated = await accounts.setDisabled(user.id, verb === 'disable');
      if (!updated) throw new UsageError(`no user ${rest[0]}`);
      print(
        { id: updated.id, email: updated.email, disabledAt: updated.disabledAt },
        updated.disabledAt
          ? `${updated.email} is disabled since ${updated.disabledAt.toISOString()}: their keys stop at once`
          : `${updated.email} is enabled`,
      );
      return 0;
    }
    if (noun === 'users' && verb === 'set-tier') {
      const user = await findUser(rest[0]);
      if (!rest[1]) throw new UsageError('name the tier');
      const updated = await accounts.setTier(user.id, rest[1]);
      print({ id: updated.id, tier: updated.tier }, `${updated.email} is now on tier ${updated.tier}`);
      return 0;
    }
    if (noun === 'keys' && verb === 'issue') {
      const user = await findUser(rest[0]);
      const key = await accounts.issueKey(user.id, values.name);
      print({ id: key.id, prefix: key.prefix, apiKey: key.key }, `API key for ${user.email} (shown once):\n${key.key}`);
      return 0;
    }
    if (noun === 'keys' && verb === 'list') {
      const user = await findUser(rest[0]);
      const keys = await accounts.listKeys(user.id);
      print(
        keys,
        keys
          .map((key) => `${key.id}  ${key.prefix}  ${key.name ?? ''}  ${key.revokedAt ? 'revoked' : 'active'}`)
          .join('\n') || '(no keys)',
      );
      return 0;
    }
    if (noun === 'keys' && verb === 'revoke') {
      if (!rest[0]) throw new UsageError('name the key by id or prefix');
      if (!isUuid(rest[0]) && !keyPrefixPattern.test(rest[0])) {
        throw new AppError(
          'VALIDATION_FAILED',
          `"${rest[0].slice(0, 100)}" is neither a key id (a UUID) nor a key prefix (iq_<12 hex>)`,
        );
      }
      const revoked = await accounts.revokeKey(rest[0]);
      if (!revoked) {
        out.write(`no active key ${rest[0]}\n`);
        return 1;
      }
      print({ revoked: rest[0] }, `revoked ${rest[0]}`);
      return 0;
    }
    if (noun === 'webhook-secrets' && verb === 'reencrypt') {
      if (!accounts.encryptsWebhookSecrets)
        throw new UsageError('WEBHOOK_SECRET_KEYS is not set: there is no key to encrypt with');
      const result = await accounts.reencryptWebhookSecrets();
      print(result, `re-encrypted ${result.reencrypted} of ${result.users} webhook secrets`);
      return 0;
    }
    throw new UsageError(`unknown command: ${positionals.join(' ')}`);
  } catch (error) {
    return exitCodeForError(error, usage, out);
  }
}
