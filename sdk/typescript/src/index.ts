// @keyward/sdk: the typed management client, `verify()`, and remote
// verification for the middleware. Local verification (the WebAssembly
// validator and a record cache) is `@keyward/sdk/local`; the middleware is
// `@keyward/sdk/hono` and `@keyward/sdk/express`.

export { DEFAULT_CLIENT_TIMEOUT_MS, KeywardApiError, createKeywardClient, unwrap } from "./client.js";
export type { ClientOptions, KeywardClient, TokenSource } from "./client.js";
export { refusalResponse, retryAfter, statusFor } from "./refusal.js";
export type { RefusalProblem, RefusalResponse } from "./refusal.js";
export { UNAVAILABLE } from "./types.js";
export type {
  AcceptedVerdict,
  KeyRecord,
  LimitUsage,
  Problem,
  ProblemCode,
  RefusalCode,
  RefusalStatus,
  Schemas,
  Verdict,
  VerdictCode,
  VerifyRequest,
  components,
  operations,
  paths,
  webhooks,
} from "./types.js";
export { DEFAULT_VERIFY_TIMEOUT_MS, KeywardConfigurationError, remoteVerifier, verify } from "./verifier.js";
export type { Outcome, PresentedKey, RemoteOptions, Verifier, VerifierStats, VerifyOptions } from "./verifier.js";
