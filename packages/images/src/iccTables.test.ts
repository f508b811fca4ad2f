import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { IccTables } from './iccTables.ts';
import { iccTablesSettled, imageToInput, useIccTables } from './modelInput.ts';
import { alignedBgrInput, alignedRgbInput } from './testing/imageFixtures.ts';
import { jpegFastPath, useJpegDecoder } from './turboJpeg.ts';

const photo = readFileSync(path.join(import.meta.dirname, '../../inference/test/fixtures/photos/astronaut.jpg'));

/** A JPEG of the test photo at width × height, in `profile`'s colours with that profile embedded. */
const jpegIn = (profile: 'p3' | 'srgb', width: number, height: number, orientation = 1) =>
  sharp(photo)
    .resize(width, height, { fit: 'fill' })
    .withIccProfile(profile)
    .withExif({ IFD0: { Orientation: String(orientation) } })
    .jpeg({ quality: 88 })
    .toBuffer();

/** imageToInput as sharp alone decodes (JPEG_DECODER=sharp): the reference. */
async function throughSharp(jpeg: Buffer, input = alignedRgbInput): Promise<Float32Array> {
  useJpegDecoder('sharp');
  try {
    return await imageToInput(jpeg, input);
  } finally {
    useJpegDecoder('auto');
  }
}

describe('JPEG with an ICC profile, for an aligned-corners input', () => {
  afterAll(() => useIccTables(2));

  it("gives sharp's conversion of the whole image bit for bit, from the profile's table, in every orientation", async () => {
    useIccTables(2);
    const first = await jpegIn('p3', 64, 48);
    // Seen twice, the profile gets its table; until then sharp decodes.
    expect(await imageToInput(first, alignedRgbInput)).toEqual(await throughSharp(first));
    await imageToInput(first, alignedRgbInput);
    expect(await iccTablesSettled()).toBe(1);
    for (const [width, height] of [
      [333, 517],
      [100, 80],
    ] as const)
      for (const orientation of [1, 3, 6, 8]) {
        const jpeg = await jpegIn('p3', width, height, orientation);
        // The table is used: libjpeg-turbo's decode of this file comes back.
        expect(await jpegFastPath(jpeg, { maxPixels: 1e8, iccTable: () => new Uint8Array(0) }, () => true)).toEqual({
          value: true,
          clean: true,
        });
        expect(await imageToInput(jpeg, alignedRgbInput)).toEqual(await throughSharp(jpeg));
        expect(await imageToInput(jpeg, alignedBgrInput)).toEqual(await throughSharp(jpeg, alignedBgrInput));
      }
  });

  it('keeps the tables of the profiles used last, and decodes through sharp with none', async () => {
    useIccTables(1, { minIntervalMs: 0 });
    const [p3, srgb] = [await jpegIn('p3', 320, 240, 6), await jpegIn('srgb', 320, 240)];
    for (const jpeg of [p3, p3, srgb, srgb]) await imageToInput(jpeg, alignedRgbInput);
    expect(await iccTablesSettled()).toBe(1);
    expect(await imageToInput(srgb, alignedRgbInput)).toEqual(await throughSharp(srgb));
    expect(await imageToInput(p3, alignedRgbInput)).toEqual(await throughSharp(p3));
    useIccTables(0);
    for (const jpeg of [p3, p3, p3])
      expect(await imageToInput(jpeg, alignedRgbInput)).toEqual(await throughSharp(jpeg));
    expect(await iccTablesSettled()).toBe(0);
  });

  it('leaves a profile split over APP2 chunks that do not add up to sharp', async () => {
    useIccTables(2);
    const jpeg = Buffer.from(await jpegIn('p3', 320, 240));
    // The one ICC chunk claims to be 1 of 2: libjpeg drops such a profile, and so does this path.
    const chunk = jpeg.indexOf('ICC_PROFILE\0', 0, 'latin1');
    jpeg[chunk + 13] = 2;
    for (let i = 0; i < 3; i++) expect(await imageToInput(jpeg, alignedRgbInput)).toEqual(await throughSharp(jpeg));
    expect(await jpegFastPath(jpeg, { maxPixels: 1e8, iccTable: () => new Uint8Array(0) }, () => true)).toBeNull();
  });
});

describe('IccTables', () => {
  it('makes a table the second time a profile is seen, and none for a profile the conversion refuses', async () => {
    let conversions = 0;
    const tables = new IccTables({
      keep: 2,
      minIntervalMs: 0,
      png: (rgb, _width, _height, icc) => Buffer.concat([Buffer.from(icc), rgb]),
      toSrgb: async (png) => {
        conversions++;
        if (png[0] === 0xee) throw new Error('refused');
        return Buffer.from(png.subarray(1).map((value) => 255 - value)); // each value inverted
      },
    });
    const good = Buffer.from([1]);
    expect(tables.tableFor(good)).toBeUndefined();
    expect(tables.tableFor(good)).toBeUndefined(); // the second sighting starts it
    await tables.settled();
    const table = tables.tableFor(good)!;
    expect(table).toHaveLength(3 << 24);
    // The entry of (r, g, b) is what the conversion gave for it.
    const at = ((12 << 16) | (34 << 8) | 56) * 3;
    expect([...table.subarray(at, at + 3)]).toEqual([255 - 12, 255 - 34, 255 - 56]);
    const made = conversions;
    const refused = Buffer.from([0xee]);
    for (let i = 0; i < 4; i++) expect(tables.tableFor(refused)).toBeUndefined();
    await tables.settled();
    expect(conversions).toBe(made + 1); // tried once, not again
    expect(tables.size).toBe(1);
  });

  it('makes the first `keep` tables at once, then starts at most one every minIntervalMs', async () => {
    let now = 0;
    const tables = new IccTables({
      keep: 1,
      minIntervalMs: 30_000,
      now: () => now,
      png: (rgb) => Buffer.from(rgb),
      toSrgb: async (png) => png,
    });
    const [first, second] = [Buffer.from([1]), Buffer.from([2])];
    for (const icc of [first, first, second, second, second]) tables.tableFor(icc);
    await tables.settled();
    expect(tables.size).toBe(1);
    expect(tables.tableFor(second)).toBeUndefined(); // seen often enough, but too soon after the first
    now = 30_000;
    tables.tableFor(second);
    await tables.settled();
    expect(tables.tableFor(second)).toHaveLength(3 << 24);
    expect(tables.size).toBe(1); // the second replaced the first

    const two = new IccTables({ keep: 2, now: () => 0, png: (rgb) => Buffer.from(rgb), toSrgb: async (png) => png });
    for (const icc of [first, first, second, second]) two.tableFor(icc);
    await two.settled();
    expect(two.size).toBe(2);
  });
});
