// The JS half of `validate` (src/wasm/mod.rs): reads the arguments and the
// record once, type-checks them and writes what the decision needs into a
// scratch buffer in WebAssembly memory (`marshal`); builds the verdict
// object from what it read (`makeVerdict`). wasm-bindgen ships this file in
// the package's snippets/.

const NL = "\n";
const enc = new TextEncoder();
const line = (s) => typeof s === "string" && !s.includes(NL);
let at = -1, pages = -1, keyCap = 0, textCap = 0;
let ints, floats, keyBytes, textBytes;
// What marshal read, for makeVerdict: each argument and record field is
// read once, so the verdict agrees with the decision even if a getter
// would answer differently the second time.
let sPresented = "", sKeyId, sApplicationId, sAccount, sScopes, sExpiresAt;
// What reading the arguments threw: it must not unwind through WebAssembly.
let thrown;
export function takeThrown() {
  const error = thrown;
  thrown = undefined;
  return error;
}
// Writes validate's inputs, type-checked, into the scratch buffer at `ptr`
// (8-aligned): 8 i32 and 2 f64; the presented key as UTF-8 (kc bytes; it
// may hold anything); then (tc bytes) "\n"-separated lines: the record's key
// id and hash; the source address (only when the record restricts
// addresses); the required scopes and the record's scopes (these two only
// when a scope is required); the record's allowed addresses.
// The i32: [0] key bytes, [1] 1 when there is a record, [2] allowed
// addresses, [3] statuses (2 bits each: status, application, owner) and
// metered (bit 6), [4] required scopes, [5] granted scopes, [6] text bytes,
// [7] 1 when the source address line is there. The f64: expires_at,
// revoke_at (NaN: none).
// Returns 0, or: -1 to -13, that record field is missing or of the wrong
// type; -100, a required scope is not a string (or holds a line break);
// -101, requiredScopes is not an array; -102, reading the arguments threw
// (takeThrown() has it); -103, sourceIp is not a string; <= -1000, the key
// needs -1000 - r bytes; <= -1000000, the lines need -1000000 - r.
export function marshal(memory, size, ptr, kc, tc, presented, record, required, source) {
  try {
    return write(memory, size, ptr, kc, tc, presented, record, required, source);
  } catch (error) {
    thrown = error;
    return -102;
  }
}
function write(memory, size, ptr, kc, tc, presented, record, required, source) {
  if (ptr !== at || size !== pages || kc !== keyCap || tc !== textCap) {
    const b = memory.buffer;
    ints = new Int32Array(b, ptr, 8);
    floats = new Float64Array(b, ptr + 32, 2);
    keyBytes = new Uint8Array(b, ptr + 48, kc);
    textBytes = new Uint8Array(b, ptr + 48 + kc, tc);
    at = ptr; pages = size; keyCap = kc; textCap = tc;
  }
  if (typeof presented !== "string") presented = "";
  let r = enc.encodeInto(presented, keyBytes);
  if (r.read !== presented.length) return -1000 - 3 * presented.length;
  ints[0] = r.written;
  let need = false;
  let requiredLines = "";
  if (required == null) ints[4] = 0;
  else if (!Array.isArray(required)) return -101;
  else {
    const n = required.length;
    for (let i = 0; i < n; i++) {
      const s = required[i];
      if (!line(s)) return -100;
      requiredLines += i === 0 ? s : NL + s;
    }
    ints[4] = n;
    need = n > 0;
  }
  if (source != null && typeof source !== "string") return -103;
  let text;
  ints[2] = ints[5] = ints[7] = 0;
  if (record == null) {
    ints[1] = 0;
    sPresented = presented;
    text = requiredLines;
  } else {
    if (typeof record !== "object") return -1;
    const { key_id, application_id, account, hash, status, expires_at, revoke_at, scopes,
      application_status, owner_status, allowed_ips, metered } = record;
    if (typeof key_id !== "string") return -2;
    if (typeof application_id !== "string") return -3;
    if (typeof account !== "string") return -4;
    if (typeof hash !== "string") return -5;
    const st = status === "active" ? 0 : status === "disabled" ? 1 : status === "revoked" ? 2 : -1;
    if (st < 0) return -6;
    if (!Number.isSafeInteger(expires_at)) return -7;
    if (revoke_at != null && !Number.isSafeInteger(revoke_at)) return -8;
    if (!Array.isArray(scopes)) return -9;
    const as = application_status === "active" ? 0 : application_status === "revoked" ? 1 : -1;
    if (as < 0) return -10;
    const os = owner_status === "active" ? 0 : owner_status === "deleted" ? 1 : -1;
    if (os < 0) return -11;
    // The addresses are checked in WebAssembly, by the core's parser.
    let allowedLines = "";
    let allowed = 0;
    if (allowed_ips != null) {
      if (!Array.isArray(allowed_ips)) return -12;
      const list = Array.prototype.slice.call(allowed_ips);
      allowed = list.length;
      for (let i = 0; i < allowed; i++) {
        if (!line(list[i])) return -12;
        allowedLines += NL + list[i];
      }
    }
    if (metered != null && typeof metered !== "boolean") return -13;
    // The verdict's own copy of the scopes, read once, then checked (and
    // their lines, when needed).
    const granted = Array.prototype.slice.call(scopes);
    const n = granted.length;
    let grantedLines = "";
    for (let i = 0; i < n; i++) {
      const g = granted[i];
      if (typeof g !== "string") return -9;
      if (need) {
        if (g.includes(NL)) return -9;
        grantedLines += NL + g;
      }
    }
    ints[1] = 1;
    ints[3] = st | (as << 2) | (os << 4) | (metered === true ? 64 : 0);
    floats[0] = expires_at;
    floats[1] = revoke_at ?? NaN;
    // A key id or hash with a line break cannot match: both go as empty.
    text = line(key_id) && line(hash) ? key_id + NL + hash : NL;
    // The source address matters only to a record that restricts them;
    // one with a line break is no address: it goes as empty.
    if (allowed > 0 && source != null) {
      ints[7] = 1;
      text += NL + (source.includes(NL) ? "" : source);
    }
    // The record's scopes matter only when a scope is required.
    if (need) {
      ints[5] = n;
      text += NL + requiredLines + grantedLines;
    }
    ints[2] = allowed;
    text += allowedLines;
    sPresented = presented;
    sKeyId = key_id;
    sApplicationId = application_id;
    sAccount = account;
    sScopes = granted;
    sExpiresAt = expires_at;
  }
  if (text === "") ints[6] = 0;
  else {
    r = enc.encodeInto(text, textBytes);
    if (r.read !== text.length) return -1000000 - 3 * text.length;
    ints[6] = r.written;
  }
  return 0;
}
// The verdict object, from the values marshal read (it cannot throw).
export function makeVerdict(code, at, matched) {
  let verdict;
  if (at < 0) verdict = { valid: false, code };
  else if (!matched) verdict = { valid: false, code, keyId: sPresented.slice(at, at + 22) };
  else {
    verdict = {
      valid: code === "VALID", code, keyId: sKeyId, applicationId: sApplicationId,
      account: sAccount, scopes: sScopes, expiresAt: sExpiresAt,
    };
  }
  sPresented = "";
  sKeyId = sApplicationId = sAccount = sScopes = sExpiresAt = undefined;
  return verdict;
}
