import { describe, expect, it } from 'vitest';
import { maxFileNameLength, sanitizeFileName } from './fileName.ts';

describe('sanitizeFileName', () => {
  it.each([
    ['cat.jpg', 'cat.jpg'],
    ['C:\\Users\\me\\Pictures\\cat.jpg', 'cat.jpg'],
    ['../../etc/passwd', 'passwd'],
    ['holiday\u0000\u0007 photo.png', 'holiday photo.png'],
    ['evil\u202egpj.exe', 'evilgpj.exe'],
    ['  spaced \t\n name .webp ', 'spaced name .webp'],
    ['cafe\u0301.jpg', 'café.jpg'],
    ['', null],
    ['   ', null],
    ['dir/', null],
    ['..', null],
    [undefined, null],
  ])('%j becomes %j', (input, expected) => {
    expect(sanitizeFileName(input)).toBe(expected);
  });

  it('bounds a long name, cutting between code points and keeping the extension', () => {
    const name = `${'😀'.repeat(300)}.jpeg`;
    const clean = sanitizeFileName(name)!;
    expect([...clean]).toHaveLength(maxFileNameLength);
    expect(clean.endsWith('….jpeg')).toBe(true);
    // A lone surrogate (half an emoji) would be a \p{Cs} code point.
    expect(/\p{Cs}/u.test(clean)).toBe(false);
  });

  it('drops an extension too long to be one', () => {
    const clean = sanitizeFileName(`a.${'b'.repeat(400)}`)!;
    expect([...clean]).toHaveLength(maxFileNameLength);
    expect(clean.endsWith('…')).toBe(true);
  });
});
