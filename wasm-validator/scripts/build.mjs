#!/usr/bin/env node
// Builds the npm package in wasm-validator/pkg/ (`npm run build`):
//
//   1. cargo build -p wasm-validator --target wasm32-unknown-unknown --release
//      (with the size and speed settings below as --config overrides, so the
//      workspace's Cargo.toml stays as it is);
//   2. wasm-bindgen (the CLI at exactly the version Cargo.lock pins for the
//      wasm-bindgen crate) for the web, bundler and nodejs targets;
//   3. wasm-opt (Debian's binaryen) on each .wasm;
//   4. the Worker and Node ESM entry points, their types, package.json with
//      conditional exports, README.
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
// The nodejs target is CommonJS (the package root is ESM); the JS snippets
// it requires are ES modules (require() of an ES module: Node >= 20.19).
const typeFile = (dir, type) =>
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type }) + "\n");
typeFile(join(pkg, "nodejs"), "commonjs");
typeFile(join(pkg, "nodejs", "snippets"), "module");

// 4. Entry points that are ready on import, with the same API everywhere:
// `keyId`, `validate`, and a default `init()` that resolves at once (the web
// entry's `init()` fetches and compiles the .wasm; await it before use).
const web = `./web/${NAME}.js`;
const files = {
  // Cloudflare Workers (workerd): a .wasm import is a compiled
  // WebAssembly.Module (wrangler's CompiledWasm rule, or a `wasm` module in
  // a workerd config).
  "workerd.js": `// Cloudflare Workers (workerd) entry: instantiates the module synchronously.
import module from "./web/${NAME}_bg.wasm";
import { initSync } from "${web}";

initSync({ module });

export * from "${web}";
export default async function init() {}
`,
  // Node, as an ES module: any Node version with ESM and WebAssembly.
  "node.mjs": `// Node ES module entry: reads and instantiates the .wasm on import.
import { readFileSync } from "node:fs";
import { initSync } from "${web}";

initSync({ module: readFileSync(new URL("./web/${NAME}_bg.wasm", import.meta.url)) });

export * from "${web}";
export default async function init() {}
`,
  // Bundlers with WebAssembly ES module integration (webpack 5
  // asyncWebAssembly, vite-plugin-wasm, Deno 2).
  "bundler.js": `// Bundler entry: the .wasm is an ES module import.
export * from "./bundler/${NAME}.js";
export default async function init() {}
`,
};
const readyTypes = `export * from "${web}";
/** Resolves at once: this entry instantiates the module on import. */
export default function init(): Promise<void>;
`;
for (const [file, text] of Object.entries(files)) {
  writeFileSync(join(pkg, file), text);
  writeFileSync(join(pkg, file.replace(/\.m?js$/, ".d.ts")), readyTypes);
}
// node.d.ts for node.mjs: TypeScript pairs .mjs with .d.mts.
cpSync(join(pkg, "node.d.ts"), join(pkg, "node.d.mts"));

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
  sideEffects: ["./workerd.js", "./node.mjs", "./bundler.js", "./bundler/*", "./nodejs/*"],
  // node.mjs needs ES modules and WebAssembly (18); require() of the
  // nodejs entry needs require() of ES modules (20.19, 22.12).
  engines: { node: ">=18" },
  exports: {
    ".": {
      workerd: { types: "./workerd.d.ts", default: "./workerd.js" },
      browser: { types: `./web/${NAME}.d.ts`, default: web },
      node: {
        require: {
          types: `./nodejs/${NAME}.d.ts`,
          default: `./nodejs/${NAME}.js`,
        },
        default: { types: "./node.d.mts", default: "./node.mjs" },
      },
      import: { types: "./bundler.d.ts", default: "./bundler.js" },
      types: `./web/${NAME}.d.ts`,
      default: web,
    },
    "./web": { types: `./web/${NAME}.d.ts`, default: web },
    "./workerd": { types: "./workerd.d.ts", default: "./workerd.js" },
    "./node": { types: "./node.d.mts", default: "./node.mjs" },
    "./bundler": { types: "./bundler.d.ts", default: "./bundler.js" },
    "./nodejs": {
      types: `./nodejs/${NAME}.d.ts`,
      default: `./nodejs/${NAME}.js`,
    },
    "./keyward_validator_bg.wasm": `./web/${NAME}_bg.wasm`,
    "./package.json": "./package.json",
  },
  // For tools that predate `exports` (and `require()` of this folder).
  main: `./nodejs/${NAME}.js`,
  module: "./bundler.js",
  browser: web,
  types: `./web/${NAME}.d.ts`,
  files: [
    "web/",
    "bundler/",
    "nodejs/",
    "workerd.js",
    "workerd.d.ts",
    "node.mjs",
    "node.d.ts",
    "node.d.mts",
    "bundler.js",
    "bundler.d.ts",
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
