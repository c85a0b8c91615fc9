// The JS half of `validate` and `PreparedRecord` (src/wasm/mod.rs,
// prepared.rs): reads the arguments and the record once, type-checks them
// and writes what the decision needs into a scratch buffer in WebAssembly
// memory (`marshal`, `marshalCall`); builds the verdict object from what it
// read (`makeVerdict`), or the value an error leaves WebAssembly as
// (`failure`). wasm-bindgen ships this file in the package's snippets/.

const NL = "\n";
const enc = new TextEncoder();
const line = (s) => typeof s === "string" && !s.includes(NL);
let at = -1, pages = -1, keyCap = 0, textCap = 0;
let ints, floats, keyBytes, textBytes;
// What marshal read, for makeVerdict: each argument and record field is
// read once, so the verdict agrees with the decision even if a getter
// would answer differently the second time. sShared: sScopes belongs to a
// prepared record, so each verdict gets its own copy.
let sPresented = "", sKeyId, sApplicationId, sAccount, sScopes, sExpiresAt, sShared = false;
// What reading the arguments threw: it must not unwind through WebAssembly.
let thrown;
export function takeThrown() {
  const error = thrown;
  thrown = undefined;
  return error;
}
// The verdict fields of the record marshal(..., full = true) just read, for
// a PreparedRecord to keep: [keyId, applicationId, account, scopes,
// expiresAt].
export function takeFields() {
  const fields = [sKeyId, sApplicationId, sAccount, sScopes, sExpiresAt];
  clear();
  return fields;
}
function clear() {
  sPresented = "";
  sKeyId = sApplicationId = sAccount = sScopes = sExpiresAt = undefined;
  sShared = false;
}
// The required scopes whose lines the start of the text area holds, as
// marshalCall last wrote them (`memo`, their `memoBytes` bytes), or null
// when something else was written there since. A verifier passes the same
// few lists of required scopes again and again; marshalCall then only
// compares them with the memo instead of encoding them again.
let memo = null, memoBytes = 0, memoTail;
// (Re)makes the views of the scratch buffer when it or the memory moved.
function view(memory, size, ptr, kc, tc) {
  if (ptr !== at || size !== pages || kc !== keyCap || tc !== textCap) {
    memo = null;
    const b = memory.buffer;
    ints = new Int32Array(b, ptr, 8);
    floats = new Float64Array(b, ptr + 32, 2);
    keyBytes = new Uint8Array(b, ptr + 48, kc);
    textBytes = new Uint8Array(b, ptr + 48 + kc, tc);
    at = ptr; pages = size; keyCap = kc; textCap = tc;
  }
}
// The required scopes as lines (their number in requiredCount), or a
// negative code (see marshal).
let requiredCount = 0;
function requiredText(required) {
  requiredCount = 0;
  if (required == null) return "";
  if (!Array.isArray(required)) return -101;
  const n = required.length;
  let lines = "";
  for (let i = 0; i < n; i++) {
    const s = required[i];
    if (!line(s)) return -100;
    lines += i === 0 ? s : NL + s;
  }
  requiredCount = n;
  return lines;
}
// The text lines into the buffer: 0, or the code asking for more room.
function writeText(text) {
  if (text === "") ints[6] = 0;
  else {
    const r = enc.encodeInto(text, textBytes);
    if (r.read !== text.length) return -1000000 - 3 * text.length;
    ints[6] = r.written;
  }
  return 0;
}
// Writes validate's inputs, type-checked, into the scratch buffer at `ptr`
// (8-aligned): 8 i32 and 2 f64; the presented key as UTF-8 (kc bytes; it
// may hold anything); then (tc bytes) "\n"-separated lines: the record's key
// id and hash; the required scopes and the record's scopes (these two only
// when a scope is required, or `full`: a PreparedRecord reads them all);
// the source address (only when the record restricts addresses); the
// record's allowed addresses.
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
export function marshal(memory, size, ptr, kc, tc, presented, record, required, source, full) {
  try {
    return write(memory, size, ptr, kc, tc, presented, record, required, source, full);
  } catch (error) {
    thrown = error;
    return -102;
  }
}
function write(memory, size, ptr, kc, tc, presented, record, required, source, full) {
  view(memory, size, ptr, kc, tc);
  memo = null;
  if (typeof presented !== "string") presented = "";
  const r = enc.encodeInto(presented, keyBytes);
  if (r.read !== presented.length) return -1000 - 3 * presented.length;
  ints[0] = r.written;
  const requiredLines = requiredText(required);
  if (typeof requiredLines === "number") return requiredLines;
  ints[4] = requiredCount;
  const need = requiredCount > 0;
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
    // their lines made, when needed).
    const granted = Array.prototype.slice.call(scopes);
    const n = granted.length;
    let grantedLines = "";
    for (let i = 0; i < n; i++) {
      const g = granted[i];
      // Checked on every call, not only when the lines are needed: the
      // same record is invalid to validate and to a PreparedRecord.
      if (typeof g !== "string" || g.includes(NL)) return -9;
      if (need || full) grantedLines += NL + g;
    }
    ints[1] = 1;
    ints[3] = st | (as << 2) | (os << 4) | (metered === true ? 64 : 0);
    floats[0] = expires_at;
    floats[1] = revoke_at ?? NaN;
    // A key id or hash with a line break cannot match: both go as empty.
    text = line(key_id) && line(hash) ? key_id + NL + hash : NL;
    // The record's scopes matter only when a scope is required.
    if (need || full) {
      ints[5] = n;
      text += (need ? NL + requiredLines : "") + grantedLines;
    }
    // The source address matters only to a record that restricts them;
    // one with a line break is no address: it goes as empty.
    if (allowed > 0 && source != null) {
      ints[7] = 1;
      text += NL + (source.includes(NL) ? "" : source);
    }
    ints[2] = allowed;
    text += allowedLines;
    sPresented = presented;
    sKeyId = key_id;
    sApplicationId = application_id;
    sAccount = account;
    sScopes = granted;
    sExpiresAt = expires_at;
    sShared = false;
  }
  return writeText(text);
}
// Writes a PreparedRecord's validate inputs (prepared.rs): the presented
// key, and the lines that marshal writes for a call without a record: the
// required scopes, then the source address when the record restricts
// addresses (`restricts`). `fields` is what takeFields gave the record, for
// makeVerdict. Returns what marshal returns.
export function marshalCall(memory, size, ptr, kc, tc, presented, required, source, restricts, fields) {
  try {
    return writeCall(memory, size, ptr, kc, tc, presented, required, source, restricts, fields);
  } catch (error) {
    thrown = error;
    return -102;
  }
}
function writeCall(memory, size, ptr, kc, tc, presented, required, source, restricts, fields) {
  view(memory, size, ptr, kc, tc);
  if (typeof presented !== "string") presented = "";
  const r = enc.encodeInto(presented, keyBytes);
  if (r.read !== presented.length) return -1000 - 3 * presented.length;
  ints[0] = r.written;
  // The required scopes, each read once: while they are the memo's, the
  // text area has their lines already.
  let n = 0, same = memo !== null, lines = "", items;
  if (required != null) {
    if (!Array.isArray(required)) return -101;
    n = required.length;
    same = same && n === memo.length;
    for (let i = 0; i < n; i++) {
      const s = required[i];
      if (same) {
        if (s === memo[i]) continue;
        same = false;
        items = memo.slice(0, i);
        lines = items.join(NL);
      }
      if (!line(s)) return -100;
      lines += i === 0 ? s : NL + s;
      (items ??= []).push(s);
    }
  } else same = same && memo.length === 0;
  if (source != null && typeof source !== "string") return -103;
  ints[1] = ints[2] = ints[5] = 0;
  ints[4] = n;
  if (!same) {
    memo = null;
    const code = writeText(lines);
    if (code !== 0) return code;
    memo = items ?? [];
    memoBytes = ints[6];
    memoTail = textBytes.subarray(memoBytes);
  }
  ints[6] = memoBytes;
  if (restricts && source != null) {
    ints[7] = 1;
    const address = (n > 0 ? NL : "") + (source.includes(NL) ? "" : source);
    const w = enc.encodeInto(address, memoTail);
    if (w.read !== address.length) {
      memo = null;
      return -1000000 - 3 * (memoBytes + address.length);
    }
    ints[6] += w.written;
  } else ints[7] = 0;
  sPresented = presented;
  sKeyId = fields[0];
  sApplicationId = fields[1];
  sAccount = fields[2];
  sScopes = fields[3];
  sExpiresAt = fields[4];
  sShared = true;
  return 0;
}
// What validate returns for an error: the JS glue throws `error` when what
// it got has no `valid` (every verdict has it; scripts/js-fixups.mjs).
export function failure(error) {
  return { error };
}
// The verdict object, from the values marshal read (it cannot throw).
export function makeVerdict(code, at, matched) {
  let verdict;
  if (at < 0) verdict = { valid: false, code };
  else if (!matched) verdict = { valid: false, code, keyId: sPresented.slice(at, at + 22) };
  else {
    verdict = {
      valid: code === "VALID", code, keyId: sKeyId, applicationId: sApplicationId,
      account: sAccount, scopes: sShared ? sScopes.slice() : sScopes, expiresAt: sExpiresAt,
    };
  }
  clear();
  return verdict;
}
