// The API client: every page reads Prometheus's HTTP API v1 through here.
// URLs are relative to the page (`api/v1/...`), so the UI also works under a path prefix.

/** An error from the API (`errorType`, `error`), from HTTP, or from the network. */
export class ApiError extends Error {
  constructor(type, message, status = 0) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

/** The API's base URL, resolved against the document. */
export function apiBase() {
  return new URL('api/v1/', document.baseURI);
}

/**
 * Calls `api/v1/<path>` and returns the whole success body (`data`, `warnings`, `infos`).
 * `params` is an object or URLSearchParams; `post` sends them form-encoded (long queries).
 * Throws an ApiError on any failure.
 */
export async function api(path, params = {}, { post = false, signal } = {}) {
  const url = new URL(path, apiBase());
  const search = new URLSearchParams(params);
  const init = { signal, headers: { Accept: 'application/json' } };
  if (post) {
    init.method = 'POST';
    init.body = search;
  } else {
    for (const [k, v] of search) url.searchParams.append(k, v);
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError('network', `Network error: ${e.message}`);
  }
  const text = await resp.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(
      'http',
      `HTTP ${resp.status} ${resp.statusText}: ${text.slice(0, 300) || '(empty body)'}`,
      resp.status,
    );
  }
  if (!body || body.status !== 'success') {
    throw new ApiError(
      (body && body.errorType) || 'http',
      (body && body.error) || `HTTP ${resp.status} ${resp.statusText}`,
      resp.status,
    );
  }
  return body;
}
