// A TypeScript consumer of @keyward/wasm-validator. consumers.test.mjs
// compiles it with lib ["ES2022"] only (no DOM, no @types/node) and
// skipLibCheck false, under each module setting a project may use (as
// check.ts, check.mts and check.cts), and runs what node16 emits.
import init, { init as namedInit, keyId, PreparedRecord, validate } from "@keyward/wasm-validator";
import type { KeyRecord, KeywardError, ValidVerdict, Verdict } from "@keyward/wasm-validator";

/** The verdicts for a key and its record, one of each way. */
export async function main(presented: string, record: KeyRecord, now: number): Promise<Verdict[]> {
  await init();
  await namedInit();
  const id: string = keyId(presented);
  const verdict = validate(presented, record, ["sims:read"], now);
  if (verdict.valid) {
    // `valid: true` narrows to a verdict with every field.
    const accepted: ValidVerdict = verdict;
    const account: string = verdict.account;
    void [accepted, account];
  }
  const prepared = new PreparedRecord(record);
  try {
    return [verdict, prepared.validate(presented, ["sims:read"], now), validate(id, null)];
  } catch (error) {
    throw new Error(`failed: ${(error as KeywardError).code}`);
  } finally {
    prepared.free();
  }
}
