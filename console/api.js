// The public HTTP API, and its RFC 9457 problems as readable messages.

/** An API answer that is not a success, or no answer at all (status 0).
 * `limit`: the limit a *_LIMIT_REACHED problem reached, else null. */
export class ApiProblem extends Error {
  constructor({ status, code, detail, title, limit = null }) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.title = title;
    this.limit = limit;
  }

  /** A short lead for the message, by status. */
  get lead() {
    if (this.status === 0) return "Could not reach the API";
    if (this.status === 401) return "Not signed in";
    if (this.status === 403) return "Not allowed";
    if (this.status === 404) return "Not found";
    if (this.status === 409) return "Not possible now";
    if (this.status === 413 || this.status === 422 || this.status === 400) return "Check the input";
    if (this.status === 429) return "Too many requests";
    if (this.status >= 500) return "The server could not do this";
    return this.title || `HTTP ${this.status}`;
  }
}

/** An Idempotency-Key: a create retried after a lost answer makes nothing
 * twice. getRandomValues, unlike randomUUID, also works on plain-http
 * origins that are not loopback. */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export class Api {
  /** `session.api` is "" for this page's origin. `onUnauthorized` is called
   * with the problem of any 401, before it is thrown. */
  constructor(session, { onUnauthorized } = {}) {
    this.session = session;
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, path, { body, idempotencyKey } = {}) {
    const headers = {
      Authorization: `Bearer ${this.session.token}`,
      Accept: "application/json, application/problem+json",
    };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    let response;
    try {
      response = await fetch(`${this.session.api}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
    } catch (error) {
      const where = this.session.api || location.origin;
      throw new ApiProblem({
        status: 0,
        code: "NETWORK",
        detail: `No answer from ${where} (${error.message}). Check the API address and that the server is running${this.session.api ? " and allows this page's origin (CORS)" : ""}.`,
      });
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (response.ok) return json;
    const problem = new ApiProblem({
      status: response.status,
      code: json?.code ?? `HTTP_${response.status}`,
      detail: json?.detail ?? (text.slice(0, 300) || response.statusText || "No details."),
      title: json?.title ?? response.statusText,
      limit: Number.isSafeInteger(json?.limit) && json.limit > 0 ? json.limit : null,
    });
    if (response.status === 401) this.onUnauthorized?.(problem);
    throw problem;
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body, idempotencyKey) {
    return this.request("POST", path, { body, idempotencyKey });
  }

  patch(path, body) {
    return this.request("PATCH", path, { body });
  }

  /** Every item of a paginated list, following `next_cursor`. */
  async listAll(path, { pageSize = 100, maxPages = 50 } = {}) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < maxPages; page++) {
      const query = new URLSearchParams({ limit: String(pageSize) });
      if (cursor) query.set("cursor", cursor);
      const answer = await this.get(`${path}?${query}`);
      items.push(...answer.items);
      cursor = answer.next_cursor;
      if (!cursor) break;
    }
    return items;
  }

  /** One page: `{items, next_cursor}`. */
  page(path, { limit = 50, cursor } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return this.get(`${path}?${query}`);
  }
}

/** Path segment encoding for ids. */
export const seg = encodeURIComponent;
