// Fix-ups of wasm-bindgen's JS and TypeScript output, so that the package
// works for every consumer (build.mjs runs them; each throws when
// wasm-bindgen's output no longer has the shape it fixes, rather than
// shipping it unfixed):
//
// - standaloneTypes: the web target's .d.ts names DOM types (RequestInfo,
//   Response, BufferSource, WebAssembly.*), so a TypeScript project with
//   `lib: ["ES2022"]` and no DOM failed to compile against the package. The
//   init types now name those types only where the program has them.
// - commonJsSnippets: the nodejs target (CommonJS) require()s the JS
//   snippets (src/wasm/marshal.js), which are ES modules, and so needed
//   require() of ES modules (Node 20.19, 22.12). They become CommonJS there.
// - throwFailures: the two `validate`s return their errors as values
//   (src/wasm/mod.rs, `run`); the glue throws them.

import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

function replaceOnce(text, pattern, replacement, what) {
  const matches = text.match(new RegExp(pattern.source, pattern.flags.replace("g", "") + "g"));
  if (matches?.length !== 1) {
    throw new Error(`${what}: expected one match of ${pattern}, found ${matches?.length ?? 0}`);
  }
  return text.replace(pattern, replacement);
}

// A global type where the program declares it (lib "dom", @types/node,
// the Workers types), else `never`: `typeof globalThis` has a property for
// every global `var`, so this asks the program instead of naming the type.
const STANDALONE = `/**
 * The instance type of a global class where the program's libraries declare
 * it (lib "dom", @types/node, the Workers types), else \`never\`: these types
 * need no DOM library.
 */
type GlobalInstance<K extends string> = typeof globalThis extends {
    [P in K]: abstract new (...args: any) => infer T;
}
    ? T
    : never;
/** \`WebAssembly.Module\`, where the program's libraries declare it. */
type WasmModule = typeof globalThis extends {
    WebAssembly: { Module: abstract new (...args: any) => infer T };
}
    ? T
    : never;
/** Bytes: what the DOM library calls \`BufferSource\`. */
type Bytes = ArrayBuffer | ArrayBufferView;

/** What \`init\` takes: the .wasm's URL (fetched), a fetched \`Response\`, its bytes or a compiled \`WebAssembly.Module\`. */
export type InitInput =
    | string
    | GlobalInstance<"URL">
    | GlobalInstance<"Request">
    | GlobalInstance<"Response">
    | Bytes
    | WasmModule;

/** The module's own exports (internal: use the functions above). */
export interface InitOutput {
    readonly [name: string]: unknown;
}

/** What \`initSync\` takes: the .wasm's bytes or a compiled \`WebAssembly.Module\`. */
export type SyncInitInput = Bytes | WasmModule;
`;

const DOM_NAMES = /\b(RequestInfo|Response|BufferSource|WebAssembly\.[A-Z]\w*)\b/;

/** The web target's .d.ts without DOM types (`file`, rewritten). Other
 * targets' .d.ts must not name any. */
export function standaloneTypes(file, { web }) {
  let text = readFileSync(file, "utf8");
  if (web) {
    text = replaceOnce(text, /^export type InitInput = [^;]*;\n/m, "", file);
    text = replaceOnce(text, /^export type SyncInitInput = [^;]*;\n/m, "", file);
    text = replaceOnce(text, /^export interface InitOutput \{[^}]*\}\n/m, STANDALONE, file);
  }
  // Outside comments and strings, nothing may name a DOM type any more.
  const code = text
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/\/\/.*$/gm, "")
    .replace(/"[^"\n]*"/g, '""');
  const left = code.match(DOM_NAMES);
  if (left) throw new Error(`${file} still names ${left[1]}`);
  writeFileSync(file, text);
}

/** The nodejs target's snippets (under `dir`) as CommonJS: each
 * `export function f` becomes `function f` plus `exports.f = f`. */
export function commonJsSnippets(dir) {
  const files = readdirSync(dir, { recursive: true }).filter((f) => f.endsWith(".js"));
  if (files.length === 0) throw new Error(`no snippets under ${dir}`);
  for (const name of files) {
    const file = join(dir, name);
    const names = [];
    const text = readFileSync(file, "utf8").replace(/^export function (\w+)/gm, (_, fn) => {
      names.push(fn);
      return `function ${fn}`;
    });
    if (/^\s*(export|import)\b/m.test(text) || names.length === 0) {
      throw new Error(`${file}: only \`export function\` can be made CommonJS`);
    }
    const exported = names.map((fn) => `exports.${fn} = ${fn};`).join("\n");
    writeFileSync(file, `"use strict";\n${text}\n${exported}\n`);
  }
}

/** In wasm-bindgen's glue (`file`), `validate` and `PreparedRecord`'s
 * `validate` throw the error of what they got back when it is a failure
 * (src/wasm/marshal.js: every verdict has `valid`, a failure does not). */
export function throwFailures(file) {
  const text = readFileSync(file, "utf8");
  let count = 0;
  const fixed = text.replace(
    /^( *)(const ret = wasm\.(?:validate|preparedrecord_validate)\([^;\n]*\);\n)\1return ret;$/gm,
    (_, indent, call) => {
      count++;
      return `${indent}${call}${indent}if (ret.valid === undefined) throw ret.error;\n${indent}return ret;`;
    },
  );
  if (count !== 2) throw new Error(`${file}: expected the two validate functions, found ${count}`);
  writeFileSync(file, fixed);
}
