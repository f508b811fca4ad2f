import { afterAll, describe, expect, inject, it } from 'vitest';
import { AccountStore, tierNames } from '@inferq/accounts';
import { createDatabase } from '@inferq/db';
import { runAdminCommand } from './adminCommands.ts';

const db = createDatabase({ url: inject('databaseUrl'), poolSize: 2 });
const accounts = new AccountStore(db, { tiers: tierNames });
afterAll(() => db.$disconnect());

async function run(...argv: string[]) {
  let text = '';
  const code = await runAdminCommand(argv, accounts, { write: (chunk) => (text += chunk) });
  return { code, text };
}

describe('inferq-admin', () => {
  it('creates a user with a working key, changes the tier, revokes the key', async () => {
    const email = `admin-cli-${Date.now()}@test.inferq`;
    const created = await run('users', 'create', '--email', email, '--tier', 'pro', '--json');
    expect(created.code).toBe(0);
    const { user, apiKey } = JSON.parse(created.text);
    expect(user.tier).toBe('pro');
    expect(await accounts.authenticate(apiKey)).toMatchObject({ userId: user.id, tier: 'pro', role: 'user' });

    expect((await run('users', 'set-tier', email, 'free')).code).toBe(0);
    expect((await accounts.authenticate(apiKey))?.tier).toBe('free');

    const prefix = apiKey.slice(0, 'iq_000000000000'.length);
    expect((await run('keys', 'revoke', prefix)).code).toBe(0);
    expect(await accounts.authenticate(apiKey)).toBeNull();
    expect((await run('keys', 'revoke', prefix)).code).toBe(1);
  });

  it.each([
    [['users', 'create']],
    [['users', 'create', '--email', 'x@y.z', '--role', 'root']],
    [['users', 'set-tier', 'nobody@nowhere']],
    [['frobnicate']],
    // No WEBHOOK_SECRET_KEYS: there is no key to encrypt with.
    [['webhook-secrets', 'reencrypt']],
  ])('exits 2 on a usage error: %j', async (argv) => {
    expect((await run(...argv)).code).toBe(2);
  });

  it.each(['not-an-email', 'two@@at.example', 'space in@example.com', 'nodomain@', '@example.com'])(
    'refuses the address %j as the API does (VALIDATION_FAILED, exit 1, nobody created)',
    async (email) => {
      const result = await run('users', 'create', '--email', email);
      expect(result.code).toBe(1);
      expect(result.text).toContain('VALIDATION_FAILED');
      expect((await accounts.listUsers()).map((user) => user.email)).not.toContain(email);
    },
  );

  it('exits 1 for an unknown tier', async () => {
    const result = await run('users', 'create', '--email', `t-${Date.now()}@test.inferq`, '--tier', 'platinum');
    expect(result.code).toBe(1);
    expect(result.text).toContain('VALIDATION_FAILED');
  });

  it.each([
    [['keys', 'revoke', 'not-a-key']],
    [['keys', 'revoke', 'iq_XYZ']],
    [['keys', 'list', 'not-a-uuid']],
    [['keys', 'issue', '1234']],
    [['users', 'set-tier', 'not-a-uuid', 'pro']],
    [['users', 'disable', 'nobody']],
  ])('refuses a malformed id with one line and exit 1, not a database error: %j', async (argv) => {
    const result = await run(...argv);
    expect(result.code).toBe(1);
    expect(result.text.trim().split('\n')).toHaveLength(1);
    expect(result.text).toMatch(/^error: VALIDATION_FAILED: /);
  });

  it('disables a user (their key stops) and enables them again, by id or email in any case', async () => {
    const email = `disable-${Date.now()}@test.inferq`;
    const { user, apiKey } = JSON.parse((await run('users', 'create', '--email', email, '--json')).text);
    const disabled = await run('users', 'disable', user.id, '--json');
    expect(disabled.code).toBe(0);
    expect(JSON.parse(disabled.text).disabledAt).not.toBeNull();
    expect(await accounts.authenticate(apiKey)).toBeNull();
    expect((await run('users', 'list')).text).toContain(`${email}  user  free  disabled`);
    expect((await run('users', 'enable', email.toUpperCase())).code).toBe(0);
    expect((await accounts.authenticate(apiKey))?.userId).toBe(user.id);
  });

  it('names accounts whose emails differ only in case (users duplicates, and a warning under users list)', async () => {
    const email = `twin-${Date.now()}@test.inferq`;
    // As written before emails were normalized, a second apart: the list names the oldest first.
    const start = Date.now();
    const rows = await Promise.all(
      [email, email.toUpperCase()].map((address, index) =>
        db.user.create({
          data: { email: address, webhookSecret: 'whsec_test', createdAt: new Date(start + index * 1000) },
        }),
      ),
    );
    try {
      const listed = await run('users', 'duplicates');
      expect(listed.code).toBe(0);
      expect(listed.text).toContain(`${email}: ${rows[0]!.id} ${email}, ${rows[1]!.id} ${email.toUpperCase()}`);
      expect((await run('users', 'list')).text).toMatch(
        /^warning: \d+ email\(s\) shared by accounts that differ only in case/m,
      );
    } finally {
      await db.user.deleteMany({ where: { id: { in: rows.map((row) => row.id) } } });
    }
  });
});
