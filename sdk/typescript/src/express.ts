// The Express middleware (4 and 5): the key from `Authorization`, the
// verifier's outcome, the verdict on `req.keyward` or a problem answer.
// Only Express's types are imported; the answer is written with Node's own
// response methods, which both majors share.

import type { NextFunction, Request, RequestHandler, Response } from "express";
import { refusalResponse } from "./refusal.js";
import type { AcceptedVerdict } from "./types.js";
import type { Verifier } from "./verifier.js";

declare global {
  // Express's own way to add a property to every request's type.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The accepted verdict, set by keyward's middleware. */
      keyward?: AcceptedVerdict;
    }
  }
}

export interface KeywardExpressOptions {
  /** The scopes every request must be granted, or a function of the request that gives them. */
  scopes?: readonly string[] | ((req: Request) => readonly string[]);
  /** Units a metered key pays per request (default 1). */
  cost?: number | ((req: Request) => number);
  /**
   * The caller's address, for keys with `allowed_ips`. The default is
   * `req.ip`: the socket's peer, or, with Express's `trust proxy` setting,
   * the address the trusted proxies report.
   */
  sourceIp?: (req: Request) => string | null | undefined;
}

/**
 * Express middleware that refuses a request whose key `verifier` does not
 * accept (401, 403, 429 with an `application/problem+json` body, or 503
 * when keyward cannot decide) and otherwise sets `req.keyward` to the
 * accepted verdict. A configuration mistake that keyward or the validator
 * refuses (a malformed required scope) goes to `next(error)`.
 *
 * ```ts
 * app.use("/v1", keyward(verifier, { scopes: ["sims:read"] }));
 * app.get("/v1/sims", (req, res) => res.json({ account: req.keyward!.account }));
 * ```
 */
export function keyward(verifier: Verifier, options: KeywardExpressOptions = {}): RequestHandler {
  const { scopes, cost, sourceIp = (req: Request) => req.ip } = options;
  return (req: Request, res: Response, next: NextFunction): void => {
    let checking;
    try {
      checking = verifier.check({
        authorization: req.headers.authorization,
        scopes: typeof scopes === "function" ? scopes(req) : scopes,
        sourceIp: sourceIp(req),
        cost: typeof cost === "function" ? cost(req) : cost,
      });
    } catch (error) {
      next(error);
      return;
    }
    checking.then((outcome) => {
      if (outcome.ok) {
        req.keyward = outcome.verdict;
        next();
        return;
      }
      const refusal = refusalResponse(outcome.code, outcome.verdict);
      res.statusCode = refusal.status;
      for (const [name, value] of Object.entries(refusal.headers)) res.setHeader(name, value);
      res.end(JSON.stringify(refusal.body));
    }, next);
  };
}
