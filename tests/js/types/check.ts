// Type-checked (never run) against each entry's .d.ts by node.test.mjs:
// the package's TypeScript types describe the API the tests exercise.
import init, { keyId, PreparedRecord, validate } from "@keyward/wasm-validator";
import type { KeyRecord, KeywardError, ValidVerdict, Verdict, VerdictCode } from "@keyward/wasm-validator";

await init();

const record: KeyRecord = {
  key_id: "0xRewg110o1PoYsMfnhp7u",
  application_id: "app_1",
  account: "acct_1",
  hash: "c192df3ae016212a8b2a177be31729aba0ae5d7aee4b7cfdfe174dd653eb05d4",
  status: "active",
  expires_at: 1802592000,
  scopes: ["sims:*"],
  application_status: "active",
  owner_status: "active",
};
const restricted: KeyRecord = { ...record, allowed_ips: ["192.0.2.0/24", "2001:db8::/32"], metered: true };
const id: string = keyId("acme_…");
const verdict: Verdict = validate(`Bearer ${id}`, record, ["sims:read"], Date.now() / 1000);
const edge: Verdict = validate(id, restricted, [], undefined, "192.0.2.7");
const central: boolean = edge.code === "CENTRAL_CHECK_REQUIRED" || edge.code === "IP_NOT_ALLOWED";
const limited: VerdictCode[] = ["RATE_LIMITED", "USAGE_EXCEEDED"];
const code: VerdictCode = verdict.code;
const valid: boolean = verdict.valid && code === "VALID";
const scopes: string[] | undefined = verdict.scopes;
validate(null, null);
validate(undefined, undefined, undefined);

// `valid` narrows: a valid verdict has every field.
if (verdict.valid) {
  const accepted: ValidVerdict = verdict;
  const account: string = verdict.account;
  const expiresAt: number = verdict.expiresAt;
  void [accepted, account, expiresAt];
} else if (verdict.code === "NOT_FOUND") {
  const id: string = verdict.keyId;
  void id;
} else if (verdict.code !== "MALFORMED") {
  const granted: string[] = verdict.scopes;
  void granted;
}
// @ts-expect-error: without narrowing, the account may be missing
const unnarrowed: string = verdict.account;

const prepared = new PreparedRecord(record);
const fast: Verdict = prepared.validate(`Bearer ${id}`, ["sims:read"], Date.now() / 1000, "192.0.2.7");
prepared.validate(null);
prepared.free();
// @ts-expect-error: a PreparedRecord needs a record
new PreparedRecord(null);

try {
  keyId("nope");
} catch (e) {
  const code: KeywardError["code"] = (e as KeywardError).code;
  void code;
}

// @ts-expect-error: a record's status is one of three strings
const wrong: KeyRecord = { ...record, status: "expired" };
// @ts-expect-error: not a verdict code
const notACode: VerdictCode = "OK";
// @ts-expect-error: required scopes are strings
validate("k", record, [1]);
// @ts-expect-error: a source address is a string
validate("k", record, [], undefined, 167772161);
// @ts-expect-error: allowed_ips are strings
const badIps: KeyRecord = { ...record, allowed_ips: [167772161] };

export { valid, scopes, wrong, notACode, central, limited, badIps, unnarrowed, fast };
