// The signed-in session: the bearer token (kept in this tab's
// sessionStorage only), the API's address, the name of the claim that holds
// the account, and what the token's claims say the user may do. The claims are decoded, not verified: they only decide
// which buttons to show. The API verifies the token and enforces every
// permission itself.

const TOKEN_KEY = "keyward.console.token";
const API_KEY = "keyward.console.api";
const CLAIM_KEY = "keyward.console.account-claim";

// The server's default KEYWARD_ACCOUNT_CLAIM.
const DEFAULT_ACCOUNT_CLAIM = "account";

// Management permissions: never offered as a key's scopes.
const MANAGEMENT_PREFIXES = ["applications:", "keys:", "users:", "audit:", "records:", "webhooks:"];

function base64UrlDecode(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The payload of a JWT, or an Error saying why the text is not one. */
export function decodeClaims(token) {
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)) || !parts[1]) {
    throw new Error("That is not a JWT (three base64url parts separated by dots).");
  }
  let claims;
  try {
    claims = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    throw new Error("That JWT's payload is not JSON.");
  }
  if (claims === null || typeof claims !== "object" || Array.isArray(claims)) {
    throw new Error("That JWT's payload is not a JSON object.");
  }
  return claims;
}

/** `permissions` as the API reads it: a space-separated string (API
 * Gateway flattens arrays to "[a b]") or an array of strings. */
export function permissionsOf(claims) {
  const value = claims.permissions;
  if (typeof value === "string") {
    return value.trim().replace(/^\[/, "").replace(/\]$/, "").split(/\s+/).filter(Boolean);
  }
  if (Array.isArray(value)) {
    return value.filter((p) => typeof p === "string").flatMap((p) => p.split(/\s+/)).filter(Boolean);
  }
  return [];
}

/** The core's rule: segment by segment, `*` matches one segment, and a
 * trailing `*` matches one or more remaining ones (wasm-validator/src/scope.rs). */
export function scopeSatisfies(granted, required) {
  if (granted === required) return true;
  const g = granted.split(":");
  const r = required.split(":");
  for (let i = 0; i < g.length; i++) {
    if (i >= r.length) return false;
    if (g[i] === "*" && i === g.length - 1) return true;
    if (g[i] !== "*" && g[i] !== r[i]) return false;
  }
  return g.length === r.length;
}

/** The account claim name the page was given: `keyward serve` writes its
 * KEYWARD_ACCOUNT_CLAIM into `<meta name="keyward-account-claim">`, and a
 * static host's copy of index.html can be edited to match its API. */
export function configuredAccountClaim() {
  const meta = document.querySelector('meta[name="keyward-account-claim"]');
  return meta?.content.trim() || DEFAULT_ACCOUNT_CLAIM;
}

/** A claim's value as the API reads an identity: a string, or a number as
 * its text; null otherwise. */
function identity(value) {
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return null;
}

export class Session {
  constructor(token, api, accountClaim = configuredAccountClaim()) {
    this.token = token;
    this.api = normalizeApi(api);
    this.accountClaim = accountClaim.trim() || DEFAULT_ACCOUNT_CLAIM;
    this.claims = decodeClaims(token);
    this.permissions = permissionsOf(this.claims);
    this.sub = identity(this.claims.sub) ?? "";
    this.account = Object.hasOwn(this.claims, this.accountClaim) ? identity(this.claims[this.accountClaim]) : null;
  }

  has(permission) {
    return this.permissions.some((p) => scopeSatisfies(p, permission));
  }

  /** `<action>:any`, or `<action>:own` on an application this user created. */
  can(action, application) {
    return (
      this.has(`${action}:any`) ||
      (application?.created_by === this.sub && this.has(`${action}:own`))
    );
  }

  /** Regenerating needs create and revoke. */
  canRegenerate(application) {
    return this.can("keys:create", application) && this.can("keys:revoke", application);
  }

  /** The scopes this user holds that a key may be given (not management
   * permissions). */
  grantableScopes() {
    return this.permissions.filter((p) => !MANAGEMENT_PREFIXES.some((m) => p.startsWith(m)));
  }

  /** Seconds until `exp`, or null without one. */
  secondsLeft(now = Date.now()) {
    return typeof this.claims.exp === "number" ? Math.floor(this.claims.exp - now / 1000) : null;
  }
}

/** "" (this page's origin) or an http(s) URL without a trailing slash. */
export function normalizeApi(text) {
  const value = (text ?? "").trim();
  if (!value) return "";
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${value} is not a URL like https://api.example.com.`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new Error("The API address must start with https:// or http://.");
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new Error("The API address takes no query, fragment or user name.");
  }
  return url.href.replace(/\/+$/, "");
}

export function loadSession() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  try {
    return new Session(token, lastApi(), lastAccountClaim());
  } catch {
    clearSession();
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(TOKEN_KEY, session.token);
  sessionStorage.setItem(API_KEY, session.api);
  sessionStorage.setItem(CLAIM_KEY, session.accountClaim);
}

export function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The API address last used in this tab (kept after sign-out). */
export function lastApi() {
  return sessionStorage.getItem(API_KEY) ?? "";
}

/** The account claim name last used in this tab, else the configured one. */
export function lastAccountClaim() {
  return sessionStorage.getItem(CLAIM_KEY) ?? configuredAccountClaim();
}

/** A `#token=…` fragment (the link `keyward serve` prints): returns the
 * token and replaces the URL, so the token leaves the address bar and the
 * history at once. */
export function takeFragmentToken() {
  if (!location.hash.startsWith("#token=")) return null;
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  history.replaceState(null, "", `${location.pathname}${location.search}#/applications`);
  return token || null;
}
