import { badRequest } from './http-error.js';

const FORM_TYPE = 'application/x-www-form-urlencoded';

/** Whether the request says its body is a URL-encoded form (parameters such as charset allowed). */
export function isFormRequest(request: Request): boolean {
  const type = request.headers.get('content-type') ?? '';
  return type.split(';')[0]!.trim().toLowerCase() === FORM_TYPE;
}

/**
 * Parses a URL-encoded form strictly: URLSearchParams would silently keep a bad escape such as
 * `%zz` or invalid UTF-8, and a form that cannot be read as sent deserves a 400, not a guess.
 * The first value of a repeated field wins.
 */
export function parseForm(body: Uint8Array): ReadonlyMap<string, string> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw badRequest('The form is not valid UTF-8.');
  }
  const fields = new Map<string, string>();
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const name = decodeField(at === -1 ? pair : pair.slice(0, at));
    const value = at === -1 ? '' : decodeField(pair.slice(at + 1));
    if (!fields.has(name)) fields.set(name, value);
  }
  return fields;
}

function decodeField(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    throw badRequest('The form has a malformed percent-escape.');
  }
}
