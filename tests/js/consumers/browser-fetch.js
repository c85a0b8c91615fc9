// A browser app bundled by esbuild with no loader for .wasm: init() fetches
// keyward_validator_bg.wasm from next to the bundle, which works once it is
// copied there, and otherwise fails saying what to do.
import init, { keyId, PreparedRecord, validate } from "@keyward/wasm-validator";
import { report } from "./report.js";

report(init(), { keyId, validate, PreparedRecord });
