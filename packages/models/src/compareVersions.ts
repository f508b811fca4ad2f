/**
 * Orders model versions the way people read them: digit runs compare as numbers (`1.10` after
 * `1.9`, `v10` after `v2`), and a semver pre-release (`1.2.0-rc.1`) comes before its release
 * (`1.2.0`). Returns a negative number, zero or a positive number, like `Array.prototype.sort`.
 */
export function compareVersions(a: string, b: string): number {
  const [coreA, preA] = splitPrerelease(a);
  const [coreB, preB] = splitPrerelease(b);
  const byCore = naturalCompare(coreA, coreB);
  if (byCore !== 0) return byCore;
  if (preA === preB) return 0;
  if (preA === null) return 1;
  if (preB === null) return -1;
  return naturalCompare(preA, preB);
}

/** The highest version of a list, or null when it is empty. */
export function highestVersion(versions: readonly string[]): string | null {
  let best: string | null = null;
  for (const version of versions) if (best === null || compareVersions(version, best) > 0) best = version;
  return best;
}

// Only `digits.digits-letters…` is a pre-release: `2024-05-01` stays one natural string.
const prereleasePattern = /^(v?\d+(?:\.\d+)*)-([A-Za-z].*)$/;

function splitPrerelease(version: string): [string, string | null] {
  const match = prereleasePattern.exec(version);
  return match ? [match[1] as string, match[2] as string] : [version, null];
}

const chunkPattern = /\d+|\D+/g;

function naturalCompare(a: string, b: string): number {
  const chunksA = a.match(chunkPattern) ?? [];
  const chunksB = b.match(chunkPattern) ?? [];
  const n = Math.min(chunksA.length, chunksB.length);
  for (let i = 0; i < n; i++) {
    const x = chunksA[i] as string;
    const y = chunksB[i] as string;
    if (x === y) continue;
    const xDigits = isDigits(x);
    const yDigits = isDigits(y);
    if (xDigits && yDigits) return compareDigitRuns(x, y);
    // A number sorts before text at the same place: `1.0` < `1.a`.
    if (xDigits !== yDigits) return xDigits ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return chunksA.length - chunksB.length;
}

function isDigits(s: string): boolean {
  const c = s.charCodeAt(0);
  return c >= 48 && c <= 57;
}

// Compares digit runs of any length without losing precision: strip leading zeros, then the longer
// run is bigger, then compare as strings.
function compareDigitRuns(x: string, y: string): number {
  const a = x.replace(/^0+(?=\d)/, '');
  const b = y.replace(/^0+(?=\d)/, '');
  if (a.length !== b.length) return a.length - b.length;
  if (a !== b) return a < b ? -1 : 1;
  return x.length - y.length;
}
