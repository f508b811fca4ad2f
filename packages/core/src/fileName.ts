/** Longest stored file name, in characters (most file systems stop at 255 bytes). */
export const maxFileNameLength = 200;

// Control characters, and the bidirectional controls that make `evil‮gpj.exe` read as `evilexe.jpg`.
const unsafeCharacters = /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

/**
 * The name of an uploaded file as it is stored and shown: the last path segment only (browsers
 * send none, other clients may), Unicode NFC, no control or bidirectional-override characters,
 * whitespace collapsed, at most {@link maxFileNameLength} characters, cut between code points and
 * keeping the extension. Null when nothing is left. It is a label, never a path: nothing is
 * written under this name.
 */
export function sanitizeFileName(name: string | null | undefined): string | null {
  if (!name) return null;
  const base = name.split(/[/\\]/).at(-1) ?? '';
  const clean = base.normalize('NFC').replace(unsafeCharacters, '').replace(/\s+/g, ' ').trim();
  if (!clean || clean === '.' || clean === '..') return null;
  const characters = [...clean];
  if (characters.length <= maxFileNameLength) return clean;
  const dot = clean.lastIndexOf('.');
  const extension = dot > 0 ? [...clean.slice(dot)] : [];
  // An extension longer than a few characters is part of the name, not worth keeping whole.
  const kept = extension.length > 1 && extension.length <= 16 ? extension : [];
  return `${characters.slice(0, maxFileNameLength - kept.length - 1).join('')}…${kept.join('')}`;
}
