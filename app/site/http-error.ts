/** Stable codes, so tests and callers match on the code rather than on message text. */
export type SiteErrorCode =
  | 'GH_ERR_NOT_FOUND'
  | 'GH_ERR_METHOD_NOT_ALLOWED'
  | 'GH_ERR_BAD_REQUEST'
  | 'GH_ERR_BODY_TOO_LARGE'
  | 'GH_ERR_UPGRADE_REQUIRED';

/**
 * The one error the site's handlers throw to answer with a status; the dispatcher turns it into
 * an error page in one place (Hono's HTTPException).
 */
export class HttpError extends Error {
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    readonly status: number,
    readonly code: SiteErrorCode,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
    this.headers = headers;
  }
}

export function bodyTooLarge(limit: number): HttpError {
  // The rest of the body stays unread: closing the connection is the only way to be rid of it.
  return new HttpError(413, 'GH_ERR_BODY_TOO_LARGE', `The request body is larger than ${limit} bytes.`, {
    connection: 'close',
  });
}

export function badRequest(message: string): HttpError {
  return new HttpError(400, 'GH_ERR_BAD_REQUEST', message);
}
