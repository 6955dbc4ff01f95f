import type { ImageFormat } from '../config/index.ts';

/**
 * What a byte string really is, judged only from its first bytes (never from a file name or a declared content
 * type). `image` formats are the ones the pipeline can decode; `other` names what was found for the user.
 */
export type Sniffed = { kind: 'image'; format: ImageFormat; name: string } | { kind: 'other'; name: string };

const image = (format: ImageFormat, name: string): Sniffed => ({ kind: 'image', format, name });
const other = (name: string): Sniffed => ({ kind: 'other', name });

function startsWith(bytes: Uint8Array, signature: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + signature.length) return false;
  return signature.every((byte, i) => bytes[offset + i] === byte);
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, Math.min(end, bytes.length)));
}

const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs', 'mif1', 'msf1']);
const VIDEO_BRANDS = new Set([
  ...['isom', 'iso2', 'iso4', 'iso5', 'iso6', 'mp41', 'mp42', 'avc1', 'dash'],
  ...['M4V ', 'M4A ', '3gp4', '3gp5', '3g2a'],
]);

/** ISO base media file (AVIF, HEIC, MP4, MOV ...): `size 'ftyp' major minor compatible...`. */
function sniffIsoMedia(bytes: Uint8Array): Sniffed | undefined {
  if (ascii(bytes, 4, 8) !== 'ftyp') return undefined;
  const boxSize = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  const end = Math.min(Math.max(boxSize, 16), 256, bytes.length);
  const brands = [ascii(bytes, 8, 12)];
  for (let i = 16; i + 4 <= end; i += 4) brands.push(ascii(bytes, i, i + 4));
  if (brands.some((b) => AVIF_BRANDS.has(b))) return image('avif', 'AVIF');
  if (brands.some((b) => HEIC_BRANDS.has(b))) return other('HEIC');
  if (brands[0] === 'jxl ') return other('JPEG XL');
  if (brands[0] === 'crx ') return other('Canon RAW');
  if (brands[0] === 'qt  ') return other('a QuickTime video');
  if (brands.some((b) => VIDEO_BRANDS.has(b))) return other('an MP4 video');
  return other('an ISO media file');
}

/** Markup and plain text, after an optional byte-order mark, whitespace and XML prologue. */
function sniffText(bytes: Uint8Array): Sniffed | undefined {
  const head = bytes.subarray(0, 4096);
  if (startsWith(head, [0xff, 0xfe]) || startsWith(head, [0xfe, 0xff])) return other('text');
  const text = new TextDecoder('utf-8', { fatal: false }).decode(head).replace(/^\uFEFF/, '');
  if (text.includes('\0')) return undefined;
  const chars = [...text];
  const odd = chars.filter((c) => c === '\uFFFD' || (c < ' ' && c !== '\n' && c !== '\r' && c !== '\t' && c !== '\f'));
  if (odd.length > chars.length * 0.02) return undefined;
  const lower = text.trimStart().toLowerCase();
  if (lower.startsWith('<')) {
    if (/<svg[\s>]/.test(lower)) return other('SVG');
    if (/<!doctype html|<html[\s>]|<head[\s>]|<body[\s>]/.test(lower)) return other('HTML');
    return other('XML');
  }
  if (lower.startsWith('%pdf-')) return other('PDF');
  if (lower.startsWith('{') || lower.startsWith('[')) return other('JSON');
  return other('text');
}

/** Identifies the format from magic bytes. Never throws. */
export function sniffFormat(bytes: Uint8Array): Sniffed {
  if (bytes.length === 0) return other('an empty file');
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return image('jpeg', 'JPEG');
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return image('png', 'PNG');
  const head = ascii(bytes, 0, 12);
  if (head.startsWith('GIF87a') || head.startsWith('GIF89a')) return image('gif', 'GIF');
  if (head.startsWith('RIFF')) {
    const kind = head.slice(8, 12);
    if (kind === 'WEBP') return image('webp', 'WebP');
    if (kind === 'WAVE') return other('a WAV sound');
    if (kind === 'AVI ') return other('an AVI video');
    return other('a RIFF file');
  }
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) {
    return image('tiff', 'TIFF');
  }
  if (startsWith(bytes, [0x49, 0x49, 0x2b, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2b])) {
    return other('BigTIFF');
  }
  const iso = sniffIsoMedia(bytes);
  if (iso) return iso;
  if (head.startsWith('BM') && [12, 40, 52, 56, 64, 108, 124].includes(bytes[14] ?? -1)) return other('BMP');
  if (head.startsWith('8BPS')) return other('Photoshop PSD');
  if (head.startsWith('%PDF-')) return other('PDF');
  if (startsWith(bytes, [0x00, 0x00, 0x01, 0x00]) || startsWith(bytes, [0x00, 0x00, 0x02, 0x00])) return other('ICO');
  if (startsWith(bytes, [0xff, 0x0a])) return other('JPEG XL');
  if (startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) return other('JPEG XL');
  if (startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20])) return other('JPEG 2000');
  if (startsWith(bytes, [0xff, 0x4f, 0xff, 0x51])) return other('JPEG 2000');
  if (head.startsWith('PK\x03\x04')) return other('a ZIP archive');
  if (startsWith(bytes, [0x1f, 0x8b])) return other('a gzip archive');
  if (head.startsWith('Rar!')) return other('a RAR archive');
  if (startsWith(bytes, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) return other('a 7z archive');
  if (startsWith(bytes, [0x1a, 0x45, 0xdf, 0xa3])) return other('a WebM/MKV video');
  if (head.startsWith('OggS')) return other('an Ogg file');
  if (head.startsWith('ID3') || startsWith(bytes, [0xff, 0xfb])) return other('an MP3 sound');
  if (head.startsWith('fLaC')) return other('a FLAC sound');
  if (startsWith(bytes, [0x7f, 0x45, 0x4c, 0x46])) return other('a program');
  if (head.startsWith('MZ')) return other('a program');
  if (/^P[1-7]\s/.test(head)) return other('a PNM image');
  return sniffText(bytes) ?? other('unknown data');
}
