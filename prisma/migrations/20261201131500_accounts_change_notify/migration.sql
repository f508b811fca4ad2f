-- Tells every listening API process that a key or a user changed in a way that decides who a key
-- authenticates as (revoked, re-hashed, moved, deleted, or a user's tier, role, email or disabled state),
-- so that their caches of recently authenticated keys (PrincipalCache) drop what they hold.
-- Other changes (last_used_at, webhook secrets, names) notify nothing. The payload is the table,
-- and for a changed row its id: `api_keys:<id>`, `users:<id>`, or `api_keys` after a delete.
-- The migration runner splits a script at every semicolon, quoted or not, so the body is an
-- escape string whose semicolons are written \073.
CREATE FUNCTION inferq_notify_account_change() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  IF TG_LEVEL = ''ROW'' THEN
    PERFORM pg_notify(''inferq_accounts'', TG_TABLE_NAME || '':'' || NEW.id)\073
  ELSE
    PERFORM pg_notify(''inferq_accounts'', TG_TABLE_NAME)\073
  END IF\073
  RETURN NULL\073
END\073
';

CREATE TRIGGER api_keys_change_notify
  AFTER UPDATE OF revoked_at, hash, user_id, prefix ON api_keys
  FOR EACH ROW
  WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.hash IS DISTINCT FROM NEW.hash OR OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.prefix IS DISTINCT FROM NEW.prefix)
  EXECUTE FUNCTION inferq_notify_account_change();

CREATE TRIGGER api_keys_delete_notify
  AFTER DELETE ON api_keys
  FOR EACH STATEMENT
  EXECUTE FUNCTION inferq_notify_account_change();

CREATE TRIGGER users_change_notify
  AFTER UPDATE OF tier, role, email, disabled_at ON users
  FOR EACH ROW
  WHEN (OLD.tier IS DISTINCT FROM NEW.tier OR OLD.role IS DISTINCT FROM NEW.role OR OLD.email IS DISTINCT FROM NEW.email OR OLD.disabled_at IS DISTINCT FROM NEW.disabled_at)
  EXECUTE FUNCTION inferq_notify_account_change();

CREATE TRIGGER users_delete_notify
  AFTER DELETE ON users
  FOR EACH STATEMENT
  EXECUTE FUNCTION inferq_notify_account_change();
