import { describe, expect, it } from 'vitest';
import {
  bmpFile,
  heicFile,
  pdfFile,
  pixelBomb,
  polyglotGifHtml,
  polyglotJpegZip,
  svgFile,
  textFile,
  validAvif,
  validGif,
  validJpeg,
  validPng,
  validTiff,
  validWebp,
} from './testing/imageFixtures.ts';
import { isImageFormat, sniffImageFormat, type SniffedFormat } from './sniffImageFormat.ts';

const ascii = (text: string) => Buffer.from(text, 'latin1');
const hex = (bytes: string) => Buffer.from(bytes.replace(/\s/g, ''), 'hex');

describe('sniffImageFormat', () => {
  it.each<[string, () => Buffer | Promise<Buffer>, SniffedFormat]>([
    ['JPEG', () => validJpeg(), 'jpeg'],
    ['PNG', () => validPng(), 'png'],
    ['WebP', () => validWebp(), 'webp'],
    ['GIF', () => validGif(), 'gif'],
    ['AVIF', () => validAvif(), 'avif'],
    ['TIFF (little-endian)', () => validTiff(), 'tiff'],
    ['TIFF (big-endian)', () => hex('4d4d002a00000008'), 'tiff'],
    ['BigTIFF', () => hex('49492b0008000000'), 'tiff'],
    ['a PNG header alone', () => pixelBomb(), 'png'],
    ['a JPEG with a ZIP appended', () => polyglotJpegZip(), 'jpeg'],
    ['a GIF signature with HTML behind it', polyglotGifHtml, 'gif'],
    ['SVG', () => svgFile(), 'svg'],
    ['SVG with upper-case tag', () => ascii('<SVG xmlns="http://www.w3.org/2000/svg"></SVG>'), 'svg'],
    ['SVG behind a doctype', () => ascii('<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x"><svg/>'), 'svg'],
    ['PDF', pdfFile, 'pdf'],
    ['HEIC', heicFile, 'heic'],
    ['BMP', () => bmpFile(), 'bmp'],
    ['PostScript', () => ascii('%!PS-Adobe-3.0\n'), 'postscript'],
    ['ICO', () => hex('0000010001001010'), 'ico'],
    ['PSD', () => ascii('8BPS\0\x01\0\0\0\0\0\0'), 'psd'],
    ['JPEG XL codestream', () => hex('ff0a fa7f'), 'jxl'],
    ['JPEG 2000', () => hex('0000000c6a5020200d0a870a'), 'jp2'],
    ['QOI', () => ascii('qoif\0\0\0\x10\0\0\0\x10\x03\x00'), 'qoi'],
    ['PPM', () => ascii('P6\n2 2\n255\n'), 'pnm'],
  ])('names %s', async (_name, make, expected) => {
    expect(sniffImageFormat(await make())).toBe(expected);
  });

  it.each<[string, Buffer]>([
    ['empty input', Buffer.alloc(0)],
    ['plain text', textFile()],
    ['HTML', ascii('<!doctype html><html><body>hi</body></html>')],
    ['XML that is not SVG', ascii('<?xml version="1.0"?><feed></feed>')],
    ['text that mentions <svg> but is not markup', ascii('draw an <svg> here')],
    ['a ZIP archive', hex('504b030414000000')],
    ['gzip (svgz included)', hex('1f8b0800000000000003')],
    ['an MP4 video', Buffer.concat([hex('00000018'), ascii('ftypisom'), hex('00000200'), ascii('isommp41')])],
    ['a JPEG signature cut to two bytes', hex('ffd8')],
    ['random bytes', hex('0123456789abcdef0123456789abcdef')],
  ])('names nothing for %s', (_name, bytes) => {
    expect(sniffImageFormat(bytes)).toBeUndefined();
  });

  it('reads a Uint8Array that is a view into a larger buffer', async () => {
    const png = await validPng();
    const backing = Buffer.concat([Buffer.from('junk'), png]);
    expect(sniffImageFormat(new Uint8Array(backing.buffer, backing.byteOffset + 4, png.length))).toBe('png');
  });

  it('tells platform formats from refused ones', () => {
    expect(isImageFormat('avif')).toBe(true);
    expect(isImageFormat('svg')).toBe(false);
    expect(isImageFormat('heic')).toBe(false);
  });
});
