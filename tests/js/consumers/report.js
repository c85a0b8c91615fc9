// The browser apps report back through window.report (consumers.test.mjs
// reads it): the results of runAll over the vectors, or the error.
import { runAll } from "./cases.mjs";

export function report(ready, api) {
  ready
    .then(() => fetch("/vectors.json"))
    .then((response) => response.json())
    .then(({ vectors }) => {
      window.report = { ok: true, results: runAll(api, vectors) };
    })
    .catch((error) => {
      window.report = { ok: false, error: String(error?.message ?? error) };
    });
}
