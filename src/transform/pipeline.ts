// One source image → one variant, with sharp, inside the limits: a known
// raster format (sniff.ts), a bounded pixel count checked from the header
// before any decode, one frame (animated sources are refused, not flattened),
// a time limit, and a slot among the cores (slots.ts). EXIF orientation is
// applied, then the metadata dropped: sharp writes no EXIF, XMP or ICC unless
// told to, and converts a tagged source's colours to sRGB on the way.
import sharp, { type Metadata, type Sharp } from 'sharp';
import { BadTransform, ImageTooLarge, TransformBusy, TransformTimeout, UnsupportedImage } from '../errors.js';
import type { Transform } from './params.js';
import { Slots } from './slots.js';
import { sniffFormat, type SourceFormat } from './sniff.js';

export type OutputFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif';

export const CONTENT_TYPES: Readonly<Record<OutputFormat, string>> = {
  jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', avif: 'image/avif', gif: 'image/gif',
};

export interface TransformLimits {
  /** A larger source is refused before it is read whole. */
  readonly maxSourceBytes: number;
  /** sharp's limitInputPixels: width × height of the source, from its header. */
  readonly maxInputPixels: number;
  readonly timeoutMs: number;
  /** Transforms at once: the cores. */
  readonly concurrency: number;
  /** Transforms waiting for a slot; more are refused with 503. */
  readonly maxQueued: number;
}

export type TransformResult = 'ok' | 'unsupported' | 'too_large' | 'timeout' | 'busy' | 'error';

export interface TransformEvents {
  finished?(result: TransformResult, format: OutputFormat | 'none', seconds: number): void;
  queueDepth?(queued: number): void;
}

export interface Variant {
  readonly body: Buffer;
  readonly format: OutputFormat;
}

// Variants are made once and stored: sharp's own operation cache would only
// hold memory twice.
sharp.cache(false);

export class Pipeline {
  readonly #slots: Slots;

  constructor(
    readonly limits: TransformLimits,
    private readonly events: TransformEvents = {},
  ) {
    this.#slots = new Slots(limits.concurrency, limits.maxQueued, (n) => events.queueDepth?.(n));
  }

  /** The source's format, or UnsupportedImage: checked before a slot is taken. */
  sourceFormat(source: Buffer): SourceFormat {
    return sniffFormat(source);
  }

  /** A source refused before run() (its size, its format): counted as run() counts its own refusals. */
  refused(error: unknown): void {
    if (error instanceof UnsupportedImage || error instanceof ImageTooLarge) this.events.finished?.(resultOf(error), 'none', 0);
  }

  /** `source` transformed; `format` undefined keeps the source's. */
  async run(source: Buffer, t: Transform, format: OutputFormat | undefined): Promise<Variant> {
    const started = performance.now();
    let outcome: OutputFormat | 'none' = format ?? 'none';
    try {
      const sourceFormat = sniffFormat(source);
      const output = format ?? sourceFormat;
      outcome = output;
      // GIF has no quality to set: a q would be ignored, so it is refused.
      if (output === 'gif' && t.q !== undefined) throw new BadTransform('q', 'none for a GIF kept as GIF (give a format)');
      const body = await this.#slots.run(() => this.#transform(source, t, output));
      this.events.finished?.('ok', output, (performance.now() - started) / 1000);
      return { body, format: output };
    } catch (error) {
      this.events.finished?.(resultOf(error), outcome, (performance.now() - started) / 1000);
      throw error;
    }
  }

  async #transform(source: Buffer, t: Transform, output: OutputFormat): Promise<Buffer> {
    const { maxInputPixels, timeoutMs } = this.limits;
    let meta: Metadata;
    try {
      // The header alone, unlimited, so that a bomb is told apart (422) from a broken file (415).
      meta = await sharp(source, { limitInputPixels: false }).metadata();
    } catch {
      throw new UnsupportedImage('the source could not be decoded');
    }
    if ((meta.pages ?? 1) > 1) throw new UnsupportedImage('animated sources are not transformed');
    if (!meta.width || !meta.height) throw new UnsupportedImage('the source has no dimensions');
    if (meta.width * meta.height > maxInputPixels) {
      throw new ImageTooLarge(`the source is ${meta.width}×${meta.height}, over ${maxInputPixels} pixels`);
    }
    let image: Sharp = sharp(source, { limitInputPixels: maxInputPixels, failOn: 'error', animated: false }).rotate();
    if (t.w !== undefined || t.h !== undefined) {
      image = image.resize({ width: t.w, height: t.h, fit: t.fit ?? 'cover', withoutEnlargement: true });
    }
    image = encode(image, output, t.q);
    // sharp stops the work itself past its (whole-second) timeout; the timer
    // answers the client on time whatever the pool is doing.
    image = image.timeout({ seconds: Math.max(1, Math.ceil(timeoutMs / 1000)) });
    let timer: NodeJS.Timeout | undefined;
    const work = image.toBuffer();
    try {
      return await Promise.race([
        // sharp's own timeout is whole seconds at the least, so the timer fires first.
        work.catch(() => {
          throw new UnsupportedImage('the source could not be decoded');
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new TransformTimeout(timeoutMs)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      // The slot is held until sharp lets go of its thread, even after a timeout.
      await work.catch(() => {});
    }
  }
}

function encode(image: Sharp, format: OutputFormat, q: number | undefined): Sharp {
  switch (format) {
    case 'jpeg':
      return image.jpeg({ quality: q, mozjpeg: false });
    case 'webp':
      return image.webp({ quality: q });
    case 'avif':
      return image.avif({ quality: q, effort: 2 });
    case 'png':
      return q === undefined ? image.png() : image.png({ quality: q, palette: true });
    case 'gif':
      return image.gif();
  }
}

function resultOf(error: unknown): TransformResult {
  if (error instanceof TransformBusy) return 'busy';
  if (error instanceof BadTransform) return 'unsupported';
  if (error instanceof UnsupportedImage) return 'unsupported';
  if (error instanceof ImageTooLarge) return 'too_large';
  if (error instanceof TransformTimeout) return 'timeout';
  return 'error';
}
