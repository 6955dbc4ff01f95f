import type { IncomingMessage } from 'node:http';
import { discordErrors, invalidFormBody } from './discord-errors.ts';
import type { RecordedFile } from './request-log.ts';

/** Reads the whole body, or stops at `maxBytes` and reports that it was too large. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      total += chunk.byteLength;
      if (total > maxBytes) {
        tooLarge = true;
        chunks.length = 0;
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!tooLarge) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

/**
 * A JSON body, or a multipart body with `payload_json` and `files[n]` parts (parsed by Node's own undici
 * FormData). Invalid JSON answers 400 / 50109 like Discord.
 */
export async function parseBody(
  contentType: string | undefined,
  body: Buffer,
): Promise<{ json: unknown; files: RecordedFile[] }> {
  if (body.byteLength === 0) return { json: undefined, files: [] };
  const type = (contentType ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) return parseMultipart(contentType!, body);
  if (type.startsWith('application/json')) return { json: parseJson(body.toString('utf8')), files: [] };
  throw invalidFormBody([
    {
      path: ['_misc'],
      code: 'CONTENT_TYPE_INVALID',
      message: 'Expected "Content-Type" header to be one of {\'application/json\', \'multipart/form-data\'}.',
    },
  ]);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw discordErrors.invalidJson();
  }
}

async function parseMultipart(contentType: string, body: Buffer): Promise<{ json: unknown; files: RecordedFile[] }> {
  let form: FormData;
  try {
    form = await new Request('http://fake.invalid/', { method: 'POST', headers: { 'content-type': contentType }, body }).formData();
  } catch {
    throw invalidFormBody([{ path: ['_misc'], code: 'MULTIPART_INVALID', message: 'Invalid multipart body' }]);
  }
  let json: unknown;
  const files: RecordedFile[] = [];
  for (const [field, value] of form.entries()) {
    if (typeof value === 'string') {
      if (field === 'payload_json') json = parseJson(value);
      continue;
    }
    files.push({
      field,
      name: value.name,
      contentType: value.type || 'application/octet-stream',
      bytes: Buffer.from(await value.arrayBuffer()),
    });
  }
  return { json, files };
}
