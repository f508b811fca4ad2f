import { AppError } from './errors.ts';

/**
 * A job's metadata: string keys and values the client attaches at submit (its customer id, an
 * order number) and gets back on the job, its webhooks and listings, and can filter by. Stripe's
 * limits: at most 20 keys, a key at most 40 characters, a value at most 500.
 */
export type JobMetadata = Record<string, string>;

export const jobMetadataLimits = { maxKeys: 20, maxKeyLength: 40, maxValueLength: 500 } as const;

/** Why metadata was refused: `details.reason` of INVALID_METADATA, stable for clients to match. */
export type JobMetadataProblem =
  | 'not_json'
  | 'not_object'
  | 'too_many_keys'
  | 'key_empty'
  | 'key_too_long'
  | 'key_invalid'
  | 'value_not_string'
  | 'value_too_long';

// Control characters and brackets: a key must read back from `metadata[KEY]=VALUE` unchanged.
const keyUnsafe = /[\p{Cc}[\]]/u;

function refuse(reason: JobMetadataProblem, message: string, key?: string): AppError {
  return new AppError('INVALID_METADATA', message, {
    details: { field: 'metadata', reason, ...(key === undefined ? {} : { key: key.slice(0, 60) }) },
  });
}

function checkKey(key: string): void {
  if (key.length === 0) throw refuse('key_empty', 'A metadata key may not be empty.', key);
  if (key.length > jobMetadataLimits.maxKeyLength)
    throw refuse('key_too_long', `Metadata keys are at most ${jobMetadataLimits.maxKeyLength} characters.`, key);
  if (keyUnsafe.test(key))
    throw refuse('key_invalid', 'Metadata keys may not contain control characters or square brackets.', key);
}

/**
 * A submit's metadata, checked: the multipart field's JSON text or the JSON body's object.
 * undefined (and an empty text) is no metadata; `{}` is stored as none too.
 *
 * @throws AppError INVALID_METADATA, `details.reason` one of JobMetadataProblem
 */
export function parseJobMetadata(given: unknown): JobMetadata | undefined {
  if (given === undefined || given === null || given === '') return undefined;
  let value = given;
  if (typeof given === 'string') {
    try {
      value = JSON.parse(given);
    } catch {
      throw refuse('not_json', 'metadata must be a JSON object of string keys and string values.');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw refuse('not_object', 'metadata must be a JSON object of string keys and string values.');
  }
  const entries = Object.entries(value);
  if (entries.length > jobMetadataLimits.maxKeys)
    throw refuse(
      'too_many_keys',
      `metadata holds at most ${jobMetadataLimits.maxKeys} keys; it had ${entries.length}.`,
    );
  const metadata: JobMetadata = {};
  for (const [key, entry] of entries) {
    checkKey(key);
    if (typeof entry !== 'string')
      throw refuse('value_not_string', `Metadata values are strings; ${JSON.stringify(key)} was not.`, key);
    if (entry.length > jobMetadataLimits.maxValueLength)
      throw refuse(
        'value_too_long',
        `Metadata values are at most ${jobMetadataLimits.maxValueLength} characters.`,
        key,
      );
    // defineProperty: a key named `__proto__` is data like any other, never the prototype.
    Object.defineProperty(metadata, key, { value: entry, enumerable: true, writable: true, configurable: true });
  }
  return entries.length > 0 ? metadata : undefined;
}

/**
 * The `metadata[KEY]=VALUE` filters of a listing's query string (Express's simple parser keeps
 * the brackets in the name), checked as a submit's metadata is. Repeated keys: the first value.
 */
export function metadataFilterOf(query: Record<string, unknown>): JobMetadata | undefined {
  const filter: Record<string, string> = {};
  let count = 0;
  for (const [name, raw] of Object.entries(query)) {
    const match = /^metadata\[(.*)\]$/s.exec(name);
    if (!match) continue;
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (typeof value !== 'string') continue;
    Object.defineProperty(filter, match[1]!, { value, enumerable: true, writable: true, configurable: true });
    count++;
  }
  return count === 0 ? undefined : parseJobMetadata(filter);
}
