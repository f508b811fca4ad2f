import { createHash } from 'node:crypto';

/** Every 8-bit RGB value, 2^24 of them: a table of one profile's conversion has 3 bytes for each. */
const colours = 1 << 24;
/** The table is made in strips of this many colours: a few MiB of PNG at a time, not 150. */
const stripColours = 1 << 21;

export interface IccTablesOptions {
  /**
   * Converts a PNG that carries the profile to 8-bit sRGB, as the caller's own decode would convert
   * a JPEG that carries it (width × height × 3 bytes back).
   */
  toSrgb: (png: Buffer) => Promise<Buffer>;
  /** Makes the PNG of `rgb` (width × height × 3 bytes) with `icc` as its profile. */
  png: (rgb: Uint8Array, width: number, height: number, icc: Uint8Array) => Buffer;
  /** Tables kept, the last used first to stay (48 MiB each). @defaultValue 2 */
  keep?: number;
  /** Sightings of a profile before its table is made. @defaultValue 2 */
  makeAfter?: number;
  /**
   * Least time between the starts of two tables (each about a second of CPU) once `keep` have
   * been started: uploads that each carry a new profile, twice, then make at most one table this
   * often, while the first few profiles a process meets get theirs at once. @defaultValue 30_000
   */
  minIntervalMs?: number;
  /** The clock, in ms. @defaultValue performance.now */
  now?: () => number;
}

/**
 * Conversion tables of ICC profiles to sRGB: for one profile, the sRGB value of every 8-bit RGB
 * value, as libvips converts it. libvips converts each pixel alone, so looking a pixel up gives
 * the same bytes as converting the whole image, at a fraction of the cost for the few pixels a
 * resize reads. Photos share a few profiles (sRGB, Display P3, Adobe RGB), so a table is made once
 * a profile has come back (`makeAfter`), in the background, and kept (`keep`, 48 MiB each); past
 * the first `keep`, at most one every `minIntervalMs`. Until then, and for a profile libvips
 * refuses, {@link tableFor} answers undefined and the caller converts as before. Uploads that each
 * carry a new profile therefore cost at most one table's making (about a second of CPU) every 30 s.
 */
export class IccTables {
  readonly #options: Required<IccTablesOptions>;
  /** Ready tables, the most recently used last. */
  readonly #tables = new Map<string, Uint8Array>();
  /** Profiles seen without a table: how often; `Infinity` while one is being made, or when it failed. */
  readonly #seen = new Map<string, number>();
  /** Tables being made. */
  readonly #making = new Set<Promise<unknown>>();
  /** When the last table was started, and how many have been. */
  #lastStart = Number.NEGATIVE_INFINITY;
  #started = 0;

  constructor(options: IccTablesOptions) {
    this.#options = { keep: 2, makeAfter: 2, minIntervalMs: 30_000, now: () => performance.now(), ...options };
    if (this.#options.keep === 0) this.#options.makeAfter = Number.POSITIVE_INFINITY;
  }

  /** The table of `icc` if it is ready; otherwise counts the sighting and, past `makeAfter`, starts making it. */
  tableFor(icc: Uint8Array): Uint8Array | undefined {
    const key = createHash('sha256').update(icc).digest('hex');
    const table = this.#tables.get(key);
    if (table) {
      this.#tables.delete(key);
      this.#tables.set(key, table);
      return table;
    }
    const seen = (this.#seen.get(key) ?? 0) + 1;
    // A stream of one-off profiles: their counts go, but not the marks of tables being made or
    // refused (at most one a minIntervalMs), which are never tried again.
    if (this.#seen.size >= 256 && !this.#seen.has(key))
      for (const [other, count] of this.#seen) if (Number.isFinite(count)) this.#seen.delete(other);
    this.#seen.set(key, seen);
    const now = this.#options.now();
    const due = this.#started < this.#options.keep || now - this.#lastStart >= this.#options.minIntervalMs;
    if (seen >= this.#options.makeAfter && Number.isFinite(seen) && due) {
      this.#lastStart = now;
      this.#started++;
      this.#seen.set(key, Number.POSITIVE_INFINITY);
      const making = this.#make(Buffer.from(icc)).then(
        (made) => {
          this.#seen.delete(key);
          this.#tables.set(key, made);
          while (this.#tables.size > this.#options.keep) this.#tables.delete(this.#tables.keys().next().value!);
        },
        () => {}, // refused: stays at Infinity, converted by the caller's own decode
      );
      this.#making.add(making);
      void making.finally(() => this.#making.delete(making));
    }
    return undefined;
  }

  /** Tables ready now. */
  get size(): number {
    return this.#tables.size;
  }

  /** Resolves once no table is being made (for tests). */
  async settled(): Promise<void> {
    while (this.#making.size > 0) await Promise.all(this.#making);
  }

  async #make(icc: Buffer): Promise<Uint8Array> {
    const table = new Uint8Array(colours * 3);
    const width = 4096;
    const height = stripColours / width;
    const rgb = new Uint8Array(stripColours * 3);
    for (let first = 0; first < colours; first += stripColours) {
      for (let i = 0, colour = first; i < rgb.length; colour++) {
        rgb[i++] = colour >>> 16;
        rgb[i++] = (colour >>> 8) & 255;
        rgb[i++] = colour & 255;
      }
      const converted = await this.#options.toSrgb(this.#options.png(rgb, width, height, icc));
      if (converted.length !== rgb.length) throw new Error('the conversion changed the number of pixels');
      table.set(converted, first * 3);
    }
    return table;
  }
}

/** Looks up, in place, the pixels of `data` (width × 3 bytes a row) at every `rows` × `columns`. */
export function convertLines(
  data: Uint8Array,
  width: number,
  rows: Int32Array,
  columns: Int32Array,
  table: Uint8Array,
): void {
  for (const row of rows) {
    const start = row * width * 3;
    for (const column of columns) {
      const at = start + column * 3;
      const from = ((data[at]! << 16) | (data[at + 1]! << 8) | data[at + 2]!) * 3;
      data[at] = table[from]!;
      data[at + 1] = table[from + 1]!;
      data[at + 2] = table[from + 2]!;
    }
  }
}
