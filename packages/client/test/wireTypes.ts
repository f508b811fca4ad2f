import type { AccountView, ErrorCode as CoreErrorCode, JobView, ModelsView, WebhookDeliveryView } from '@inferq/core';
import type { Account, ErrorCode, Job, ModelList, WebhookDelivery } from '../src/index.ts';

/**
 * The client's published types equal the server's wire types. Checked by `pnpm typecheck` (part
 * of scripts/test.sh), where a difference is a compile error; there is nothing to run.
 */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

export type ClientTypesEqualWireTypes = [
  Expect<Equal<Job, JobView>>,
  Expect<Equal<WebhookDelivery, WebhookDeliveryView>>,
  Expect<Equal<ErrorCode, CoreErrorCode>>,
  Expect<Equal<Account, AccountView>>,
  Expect<Equal<ModelList, ModelsView>>,
];
