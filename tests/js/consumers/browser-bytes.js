// A browser app bundled by esbuild with --loader:.wasm=binary: the .wasm's
// bytes are in the bundle, and initSync instantiates them (the package
// README, "With esbuild"). Built as an ES module and as an IIFE.
import { initSync, keyId, PreparedRecord, validate } from "@keyward/wasm-validator";
import wasm from "@keyward/wasm-validator/keyward_validator_bg.wasm";
import { report } from "./report.js";

// As an app would at start-up: initSync({ module: wasm }).
const ready = Promise.resolve().then(() => initSync({ module: wasm }));
report(ready, { keyId, validate, PreparedRecord });
