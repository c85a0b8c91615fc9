#!/usr/bin/env node
// Builds the npm package in wasm-validator/pkg/ (`npm run build`):
//
//   1. cargo build -p wasm-validator --target wasm32-unknown-unknown --release
//      (with the size and speed settings below as --config overrides, so the
//      workspace's Cargo.toml stays as it is);
//   2. wasm-bindgen (the CLI at exactly the version Cargo.lock pins for the
//      wasm-bindgen crate) for the web, bundler and nodejs targets;
//   3. wasm-opt (Debian's binaryen) on each .wasm;
//   4. fix-ups of its JS and types (js-fixups.mjs); the Worker, Node, browser
//      and bundler entry points, their types, package.json with conditional
//      exports, README.
//
// Needs: cargo with the wasm32-unknown-unknown target, wasm-bindgen and
// wasm-opt on PATH. tests/wasm.sh installs all three.

import { execFileSync } from "node:child_process";
import {
  cpSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { commonJsSnippets, standaloneTypes, throwFailures } from "./js-fixups.mjs";
import { fixTableExports } from "./wasm-fixups.mjs";

const crate = dirname(dirname(fileURLToPath(import.meta.url)));
const root = dirname(crate);
const pkg = join(crate, "pkg");
const NAME = "keyward_validator";
const TARGETS = ["web", "bundler", "nodejs"];

const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
const output = (cmd, args) =>
  execFileSync(cmd, args, { cwd: root, encoding: "utf8" }).trim();

function lockVersion(name) {
  const lock = readFileSync(join(root, "Cargo.lock"), "utf8");
  const match = lock.match(
    new RegExp(`\\[\\[package\\]\\]\\nname = "${name}"\\nversion = "([^"]+)"`),
  );
  if (!match) throw new Error(`${name} is not in Cargo.lock`);
  return match[1];
}

function need(cmd, args, hint) {
  try {
    return output(cmd, args);
  } catch {
    throw new Error(`${cmd} is not installed: ${hint}`);
  }
}

const bindgenVersion = lockVersion("wasm-bindgen");
const cliVersion = need(
  "wasm-bindgen",
  ["--version"],
  `cargo install wasm-bindgen-cli --version ${bindgenVersion} (or run tests/wasm.sh)`,
);
if (cliVersion !== `wasm-bindgen ${bindgenVersion}`) {
  throw new Error(
    `${cliVersion} does not match the wasm-bindgen crate ${bindgenVersion} in Cargo.lock: ` +
      `cargo install wasm-bindgen-cli --version ${bindgenVersion} --force`,
  );
}
need("wasm-opt", ["--version"], "apt-get install -y binaryen");

// 1. The WebAssembly module. The workspace's release profile (LTO, one
// codegen unit) plus: opt-level 3 (the package is well under its 64 KiB
// budget, and speed is the other goal), abort on panic (no unwinding
// tables), and no strip, so wasm-bindgen sees the target_features section
// (it decides on reference types from it); wasm-bindgen and wasm-opt drop
// the names and debug sections anyway.
const profile = {
  "opt-level": "3",
  panic: '"abort"',
  strip: "false",
  debug: "false",
  "codegen-units": "1",
  lto: "true",
};
run("cargo", [
  "build",
  "-p",
  "wasm-validator",
  "--target",
  "wasm32-unknown-unknown",
  "--release",
  "--locked",
  ...Object.entries(profile).flatMap(([k, v]) => [
    "--config",
    `profile.release.${k}=${v}`,
  ]),
  // WebAssembly SIMD (128-bit): sha2 then uses its SIMD compression
  // function, which took `validate` in Node from 0.8x to about 1x the time
  // of node:crypto's createHash of the key alone (BENCHMARKS.md). Every
  // engine the package targets has it: Chrome/Edge 91+, Firefox 89+,
  // Safari 16.4+, Node 16.4+, Deno, workerd; an engine without it cannot
  // compile the module at all.
  "--config",
  'target.wasm32-unknown-unknown.rustflags=["-C", "target-feature=+simd128"]',
]);
const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, "target");
const wasm = join(
  targetDir,
  "wasm32-unknown-unknown",
  "release",
  "wasm_validator.wasm",
);

// 2 and 3. Bindings per target, then the optimiser. The features are the
// ones rustc enables for wasm32-unknown-unknown; binaryen must be told.
const FEATURES = [
  "--enable-bulk-memory",
  "--enable-sign-ext",
  "--enable-mutable-globals",
  "--enable-nontrapping-float-to-int",
  "--enable-reference-types",
  "--enable-multivalue",
  "--enable-simd",
];
rmSync(pkg, { recursive: true, force: true });
for (const target of TARGETS) {
  const out = join(pkg, target);
  run("wasm-bindgen", [
    "--target",
    target,
    "--out-dir",
    out,
    "--out-name",
    NAME,
    wasm,
  ]);
  const file = join(out, `${NAME}_bg.wasm`);
  run("wasm-opt", ["-O3", ...FEATURES, file, "-o", file]);
  fixTableExports(file);
}
// The nodejs target is CommonJS (the package root is ESM), and so are its
// JS snippets once made so: require() works in every Node the package
// supports, not only where it can load ES modules (20.19, 22.12).
writeFileSync(join(pkg, "nodejs", "package.json"), JSON.stringify({ type: "commonjs" }) + "\n");
commonJsSnippets(join(pkg, "nodejs", "snippets"));
// Types that compile without lib "dom"; and no types for the raw .wasm
// exports (nothing imports them, and they name WebAssembly.* types).
for (const target of TARGETS) {
  standaloneTypes(join(pkg, target, `${NAME}.d.ts`), { web: target === "web" });
  rmSync(join(pkg, target, `${NAME}_bg.wasm.d.ts`), { force: true });
  // The bundler target keeps its functions in the _bg.js file.
  throwFailures(join(pkg, target, target === "bundler" ? `${NAME}_bg.js` : `${NAME}.js`));
}

// 4. Entry points with the same API everywhere: `keyId`, `validate`,
// `PreparedRecord`, and `init()` (default and named), which resolves at
// once where the entry instantiates the module on import, and fetches and
// compiles the .wasm in the browser entry (await it before use).
const web = `./web/${NAME}.js`;
const ready = "export default async function init() {}\nexport { init };\n";
// What the browser entry's errors point to (README, "With esbuild").
const help =
  "Pass the .wasm to init() as a URL or bytes; with esbuild, bundle it with " +
  "--loader:.wasm=binary and call initSync({ module }) with the default import of " +
  "@keyward/wasm-validator/keyward_validator_bg.wasm (the package README, \"With esbuild\").";
const files = {
  // Cloudflare Workers (workerd): a .wasm import is a compiled
  // WebAssembly.Module (wrangler's CompiledWasm rule, or a `wasm` module in
  // a workerd config).
  "workerd.js": `// Cloudflare Workers (workerd) entry: instantiates the module synchronously.
import module from "./web/${NAME}_bg.wasm";
import { initSync } from "${web}";

initSync({ module });

export * from "${web}";
${ready}`,
  // Node, as an ES module: any Node version with ESM and WebAssembly.
  "node.mjs": `// Node ES module entry: reads and instantiates the .wasm on import.
import { readFileSync } from "node:fs";
import { initSync } from "${web}";

initSync({ module: readFileSync(new URL("./web/${NAME}_bg.wasm", import.meta.url)) });

export * from "${web}";
${ready}`,
  // Node, CommonJS: wasm-bindgen's nodejs target, which instantiates the
  // module on require(), plus init() (named and as \`default\`, with
  // __esModule so that TypeScript's and bundlers' default imports find it).
  "node.cjs": `"use strict";
// Node CommonJS entry: reads and instantiates the .wasm on require().
const api = require("./nodejs/${NAME}.js");

async function init() {}
module.exports = { ...api, init, default: init };
Object.defineProperty(module.exports, "__esModule", { value: true });
`,
  // Browsers: wasm-bindgen's web target, whose init() fetches the .wasm
  // from next to the module (new URL(..., import.meta.url), which webpack
  // and Vite follow). A bundle that has no import.meta.url (esbuild's IIFE
  // or CommonJS output) or left the .wasm behind (esbuild's ESM output) got
  // "Invalid URL" or a failed fetch; this says what to do instead.
  "browser.js": `// Browser entry: await init() (it fetches and compiles the .wasm) before use.
import initModule from "${web}";

export * from "${web}";
const HELP = ${JSON.stringify(help)};

export default async function init(input) {
  if (input === undefined && typeof import.meta.url !== "string") {
    throw new Error(
      "@keyward/wasm-validator: init() cannot locate keyward_validator_bg.wasm: " +
        "this bundle has no import.meta.url. " + HELP,
    );
  }
  try {
    return await initModule(input);
  } catch (error) {
    if (input === undefined && /^failed to fetch Wasm/.test(error?.message)) {
      throw new Error(\`@keyward/wasm-validator: \${error.message}. \${HELP}\`, { cause: error });
    }
    throw error;
  }
}
export { init };
`,
  // Bundlers with WebAssembly ES module integration (webpack 5
  // asyncWebAssembly, vite-plugin-wasm, Deno 2).
  "bundler.js": `// Bundler entry: the .wasm is an ES module import.
export * from "./bundler/${NAME}.js";
${ready}`,
};
const readyTypes = (from, module) => `export * from "${from}";
/** Resolves at once: this entry instantiates the module on ${module ? "import" : "require()"}. */
export declare function init(): Promise<void>;
export default init;
`;
const types = {
  "workerd.d.ts": readyTypes(web, true),
  // TypeScript pairs .mjs with .d.mts, .cjs with .d.cts.
  "node.d.mts": readyTypes(web, true),
  "node.d.cts": readyTypes(`./nodejs/${NAME}.js`, false),
  "bundler.d.ts": readyTypes(`./bundler/${NAME}.js`, true),
  "browser.d.ts": `export * from "${web}";
import init from "${web}";
export default init;
export { init };
`,
};
for (const [file, text] of Object.entries({ ...files, ...types })) {
  writeFileSync(join(pkg, file), text);
}

const cargoVersion = readFileSync(join(root, "Cargo.toml"), "utf8").match(
  /\[workspace\.package\][^[]*?version = "([^"]+)"/,
)[1];
const manifest = {
  name: "@keyward/wasm-validator",
  version: cargoVersion,
  description:
    "Checks a keyward API key against its record locally, with the verdicts of POST /verify: Cloudflare Workers, browsers and Node.",
  license: "Apache-2.0",
  type: "module",
  sideEffects: ["./workerd.js", "./node.mjs", "./node.cjs", "./bundler.js", "./bundler/*", "./nodejs/*"],
  // Both Node entries need only WebAssembly SIMD (16.4) and the globals
  // of Node 18; tests/js/consumers.test.mjs runs both in Node 18.
  engines: { node: ">=18" },
  exports: {
    ".": {
      workerd: { types: "./workerd.d.ts", default: "./workerd.js" },
      browser: { types: "./browser.d.ts", default: "./browser.js" },
      node: {
        require: { types: "./node.d.cts", default: "./node.cjs" },
        default: { types: "./node.d.mts", default: "./node.mjs" },
      },
      import: { types: "./bundler.d.ts", default: "./bundler.js" },
      types: "./browser.d.ts",
      default: "./browser.js",
    },
    "./web": { types: "./browser.d.ts", default: "./browser.js" },
    "./workerd": { types: "./workerd.d.ts", default: "./workerd.js" },
    "./node": {
      require: { types: "./node.d.cts", default: "./node.cjs" },
      default: { types: "./node.d.mts", default: "./node.mjs" },
    },
    "./bundler": { types: "./bundler.d.ts", default: "./bundler.js" },
    "./nodejs": { types: "./node.d.cts", default: "./node.cjs" },
    "./keyward_validator_bg.wasm": `./web/${NAME}_bg.wasm`,
    "./package.json": "./package.json",
  },
  // For tools that predate `exports` (and `require()` of this folder).
  main: "./node.cjs",
  module: "./bundler.js",
  browser: "./browser.js",
  types: "./browser.d.ts",
  files: [
    "web/",
    "bundler/",
    "nodejs/",
    ...Object.keys(files),
    ...Object.keys(types),
    "README.md",
  ],
  keywords: ["api-key", "keyward", "webassembly", "cloudflare-workers"],
};
writeFileSync(
  join(pkg, "package.json"),
  JSON.stringify(manifest, null, 2) + "\n",
);
cpSync(join(crate, "README.md"), join(pkg, "README.md"));
// wasm-bindgen writes a .gitignore (`*`) into each output folder, which
// would keep npm from packing them.
for (const target of TARGETS) rmSync(join(pkg, target, ".gitignore"), { force: true });

// The sizes (BENCHMARKS.md quotes them).
const optimised = readFileSync(join(pkg, "web", `${NAME}_bg.wasm`));
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(
  `\n${NAME}_bg.wasm: ${optimised.length} bytes (${kib(optimised.length)}) raw, ` +
    `${gzipSync(optimised, { level: 9 }).length} bytes gzip -9`,
);
const total = (dir) =>
  readdirSync(dir, { recursive: true })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .reduce((sum, f) => sum + statSync(f).size, 0);
console.log(`pkg/: ${kib(total(pkg))} in all, wasm-bindgen ${bindgenVersion}`);
if (optimised.length > 64 * 1024) {
  console.warn("warning: the .wasm is over its 64 KiB budget");
}
