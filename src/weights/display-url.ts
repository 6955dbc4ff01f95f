/**
 * How a weights URL appears in messages and logs: without user info or query string, which may hold
 * credentials (signed storage URLs carry their signature in the query).
 */
export function displayUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(invalid URL)';
  }
  const query = parsed.search ? '?…' : '';
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}${query}`;
}

export function isHttpUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}
