/** What a weights file is, judged from its first bytes (at least 16 are needed; 512 are better). */
export type SniffedFormat = 'hdf5' | 'json' | 'html' | 'zip' | 'unknown';

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
/** HDF5 allows a user block before the superblock, so the signature may sit at 0, 512, 1024, 2048... */
const HDF5_OFFSETS = [0, 512, 1024, 2048];

export const SNIFF_BYTES = 2056;

export function sniffFormat(head: Uint8Array): SniffedFormat {
  const bytes = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  for (const offset of HDF5_OFFSETS) {
    if (bytes.length >= offset + 8 && bytes.subarray(offset, offset + 8).equals(HDF5_SIGNATURE)) return 'hdf5';
  }
  if (bytes.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'))) return 'zip';
  // latin1 keeps every byte as one character, so a UTF-8 byte order mark reads as \xEF\xBB\xBF.
  const text = bytes
    .subarray(0, 512)
    .toString('latin1')
    .replace(/^\xEF\xBB\xBF/, '')
    .trimStart();
  if (text.startsWith('{')) return 'json';
  if (/^<[!?a-z]/i.test(text)) return 'html'; // any markup: HTML pages and XML error documents alike
  return 'unknown';
}

/** The short phrase that completes "<file> is ..." for a file that is not what was expected. */
export function describeWrongFormat(format: SniffedFormat): string {
  switch (format) {
    case 'html':
      return 'a web page (HTML/XML), not weights: an error or login page was probably saved in place of the file';
    case 'zip':
      return 'a zip archive (a Keras 3 .keras file?), not an .h5 weights file or a TF.js model.json';
    case 'json':
      return 'a JSON file without a TF.js weights manifest';
    case 'hdf5':
      return 'an HDF5 file';
    case 'unknown':
      return 'neither a Keras HDF5 (.h5) file nor a TF.js model.json';
  }
}
