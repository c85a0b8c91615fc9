// Type-checked with check.ts for the browser entry, with lib "dom": the
// package's init types name Response, URL and WebAssembly.Module where the
// program's libraries declare them (and stand alone where they do not:
// tests/js/consumers.test.mjs).
import init, { initSync } from "@keyward/wasm-validator";

await init({ module_or_path: new URL("/keyward_validator_bg.wasm", "https://example.com") });
await init({ module_or_path: fetch("/keyward_validator_bg.wasm") });
initSync({ module: new WebAssembly.Module(new Uint8Array(8)) });
initSync({ module: new Uint8Array(8) });
