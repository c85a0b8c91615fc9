// The management client: openapi-fetch over the types openapi-typescript
// generates from infra/openapi.yaml, so every path, parameter, body and
// answer is checked by the compiler against the document itself. This
// file adds only what a client of keyward needs on top: the token, a time
// limit per request, and an error that carries keyward's problem.

import createClient from "openapi-fetch";
import type { Client, Middleware } from "openapi-fetch";
import type { Problem, paths } from "./types.js";

/** A bearer token, or a function that gives the current one (for rotation). */
export type TokenSource = string | (() => string | Promise<string>);

export interface ClientOptions {
  /** keyward's base URL, e.g. `https://keys.example.com` or `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** The management JWT. Omit it for the routes that need none (`POST /verify`, the leak report). */
  token?: TokenSource;
  /** The time limit of each request, body included, in milliseconds (default 10,000). */
  timeoutMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
}

/** The typed client: `client.GET("/keys/{id}", { params: { path: { id } } })`, and so on for every route. */
export type KeywardClient = Client<paths>;

/** The default time limit of a management request. */
export const DEFAULT_CLIENT_TIMEOUT_MS = 10_000;

/**
 * A client of keyward's HTTP API, every route typed from the OpenAPI
 * document. Each call answers `{ data, error, response }`; `unwrap()` turns
 * that into the data or a thrown {@link KeywardApiError}.
 */
export function createKeywardClient(options: ClientOptions): KeywardClient {
  const { token } = options;
  const headers: Record<string, string> = { ...options.headers };
  if (typeof token === "string") headers.authorization = `Bearer ${token}`;
  const client = createClient<paths>({
    baseUrl: options.baseUrl,
    fetch: timed(options.fetch ?? globalThis.fetch, options.timeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS),
    headers,
  });
  if (typeof token === "function") {
    const bearer: Middleware = {
      async onRequest({ request }) {
        request.headers.set("authorization", `Bearer ${await token()}`);
        return request;
      },
    };
    client.use(bearer);
  }
  return client;
}

/**
 * `fetch` with a time limit: the call fails with a `TimeoutError` when the
 * answer, body included, has not arrived within `ms`, and the request is
 * aborted. The body is read here, so the limit covers it and its timer
 * ends with it. A signal the caller gave still aborts the request too.
 *
 * The limit is a timer raced against the fetch, not only an abort signal:
 * Node's fetch follows a signal through weak references (a Request made
 * from another, `AbortSignal.any`), so a garbage collection at the wrong
 * time loses the abort and the request waits for the socket's own
 * minutes-long timeout. The timer fails the call whatever becomes of the
 * abort.
 */
export function timed(fetch: typeof globalThis.fetch, ms: number): (request: Request) => Promise<Response> {
  return (request: Request) =>
    new Promise<Response>((resolve, reject) => {
      const controller = new AbortController();
      // A signal the caller gave (openapi-fetch's `signal` option) still aborts.
      const forward = () => controller.abort(request.signal.reason);
      if (request.signal.aborted) forward();
      else request.signal.addEventListener("abort", forward, { once: true });
      const timer = setTimeout(() => {
        const error = new DOMException(`keyward did not answer within ${ms} ms`, "TimeoutError");
        reject(error);
        controller.abort(error);
      }, ms);
      const call = async () => {
        const response = await fetch(request, { signal: controller.signal });
        const body = NULL_BODY.has(response.status) ? null : await response.arrayBuffer();
        return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
      };
      call()
        .then(resolve, reject)
        .finally(() => {
          clearTimeout(timer);
          request.signal.removeEventListener("abort", forward);
        });
    });
}

// Statuses whose Response cannot have a body.
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** A keyward error answer: its status and, when the body is keyward's problem, its stable `code`. */
export class KeywardApiError extends Error {
  override readonly name = "KeywardApiError";
  /** The HTTP status. */
  readonly status: number;
  /** The problem's `code`, or `HTTP_<status>` for an answer without a problem body (a proxy's, API Gateway's). */
  readonly code: string;
  /** keyward's problem, when the body was one. */
  readonly problem: Problem | undefined;
  /** `Retry-After` in seconds, when the answer had one. */
  readonly retryAfter: number | undefined;

  constructor(response: Response, body: unknown) {
    const problem = isProblem(body) ? body : undefined;
    const code = problem?.code ?? `HTTP_${response.status}`;
    super(`keyward answered ${response.status} ${code}${problem ? `: ${problem.detail}` : ""}`);
    this.status = response.status;
    this.code = code;
    this.problem = problem;
    const retry = Number(response.headers.get("retry-after"));
    this.retryAfter = Number.isFinite(retry) && retry > 0 ? retry : undefined;
  }
}

function isProblem(body: unknown): body is Problem {
  return (
    typeof body === "object" &&
    body !== null &&
    typeof (body as Problem).code === "string" &&
    typeof (body as Problem).status === "number"
  );
}

/**
 * The data of a successful call, or a thrown {@link KeywardApiError}.
 *
 * ```ts
 * const app = await unwrap(client.POST("/applications", { body: { name: "billing" } }));
 * ```
 */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw new KeywardApiError(response, error);
  return data as T;
}
