// A CommonJS project: tsc (NodeNext, in a "type": "commonjs" package)
// compiles these imports to require(), which must find the SDK's CommonJS
// build, its types, and the validator's CommonJS entry. Run by
// consumer.test.mjs; it prints one JSON line of what it saw.

import { createKeywardClient, remoteVerifier, statusFor } from "@keyward/sdk";
import { localVerifier } from "@keyward/sdk/local";
import { keyward } from "@keyward/sdk/hono";
import type { KeywardEnv } from "@keyward/sdk/hono";
import { Hono } from "hono";

async function main(): Promise<void> {
  const [deadUrl, unknownKey] = process.argv.slice(2) as [string, string];
  const local = localVerifier({ baseUrl: deadUrl, token: "t", timeoutMs: 500 });
  const app = new Hono<KeywardEnv>();
  app.get("/x", keyward(local), (c) => c.text(c.get("keyward").key_id));
  const missing = await app.request("/x");
  const unreachable = await app.request("/x", { headers: { authorization: unknownKey } });
  console.log(
    JSON.stringify({
      module: typeof module === "object" ? "commonjs" : "esm",
      missing: [missing.status, ((await missing.json()) as { code: string }).code],
      unreachable: [unreachable.status, ((await unreachable.json()) as { code: string }).code],
      remote: remoteVerifier({ baseUrl: deadUrl }).mode,
      client: typeof createKeywardClient({ baseUrl: deadUrl }).GET,
      status: statusFor("USAGE_EXCEEDED"),
    }),
  );
}

void main();
