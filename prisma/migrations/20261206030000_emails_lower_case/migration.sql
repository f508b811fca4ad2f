-- Emails are compared case-insensitively: the API and the admin CLI store and look them up in
-- lower case (normalizeEmail in @inferq/accounts), and this lower-cases the rows written before.
-- Two accounts whose emails differ only in case hold the data of two people (keys, jobs, webhook
-- secrets), so they are neither merged nor renamed: their emails are left as they are, and
-- "pnpm admin users duplicates" (also a warning under "users list") names them for an operator
-- to resolve (change one email, or delete one account). Their keys keep working. An email lookup
-- finds only the one already in lower case, so name the others by id.
UPDATE users u SET email = lower(u.email)
 WHERE u.email <> lower(u.email)
   AND NOT EXISTS (SELECT 1 FROM users o WHERE o.id <> u.id AND lower(o.email) = lower(u.email));
