// The Express middleware as a user's project writes it, for the compiler
// only (with @types/express, which Express 5 needs): `req.keyward` typed
// through Express's own Request interface.

import express from "express";
import type { AcceptedVerdict, Verifier } from "@keyward/sdk";
import { keyward } from "@keyward/sdk/express";

export function expressApp(verifier: Verifier): express.Express {
  const app = express();
  app.use("/v1", keyward(verifier, { scopes: ["sims:read"], cost: (req) => (req.method === "POST" ? 5 : 1) }));
  app.get("/v1/sims", (req, res) => {
    const verdict: AcceptedVerdict | undefined = req.keyward;
    res.json({ account: verdict?.account });
  });
  return app;
}
