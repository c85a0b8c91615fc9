// A fix-up for binaryen 108 (Debian 12's wasm-opt): when a module has two
// tables (wasm-bindgen's funcref table for indirect calls and its externref
// table for JS values), wasm-opt writes the export of the externref table
// `__wbindgen_externrefs` with the index of table 0. The glue then calls
// `table.set(i, undefined)` on the funcref table and instantiation fails.
// This points the export back at the externref table; it changes nothing in
// a module that is already right (newer binaryen).

import { readFileSync, writeFileSync } from "node:fs";

const EXTERNREF = 0x6f;

function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, at];
  }
}

/** Byte ranges of the module's sections: [{ id, start, end }]. */
function sections(bytes) {
  const out = [];
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at++];
    const [size, start] = leb(bytes, at);
    out.push({ id, start, end: start + size });
    at = start + size;
  }
  return out;
}

function skipLimits(bytes, at) {
  const flags = bytes[at++];
  [, at] = leb(bytes, at);
  if (flags & 1) [, at] = leb(bytes, at);
  return at;
}

/** The element type of every table, imported ones first. */
function tableTypes(bytes, secs) {
  const types = [];
  for (const { id, start } of secs) {
    if (id === 2) {
      let [count, at] = leb(bytes, start);
      while (count--) {
        let len;
        [len, at] = leb(bytes, at);
        at += len;
        [len, at] = leb(bytes, at);
        at += len;
        const kind = bytes[at++];
        if (kind === 0) [, at] = leb(bytes, at);
        else if (kind === 1) {
          types.push(bytes[at++]);
          at = skipLimits(bytes, at);
        } else if (kind === 2) at = skipLimits(bytes, at);
        else if (kind === 3) at += 2;
        else throw new Error(`unknown import kind ${kind}`);
      }
    }
    if (id === 4) {
      let [count, at] = leb(bytes, start);
      while (count--) {
        types.push(bytes[at++]);
        at = skipLimits(bytes, at);
      }
    }
  }
  return types;
}

export function fixTableExports(file) {
  const bytes = readFileSync(file);
  const secs = sections(bytes);
  const types = tableTypes(bytes, secs);
  const externrefs = types.flatMap((t, i) => (t === EXTERNREF ? [i] : []));
  const exports = secs.find((s) => s.id === 7);
  if (!exports || externrefs.length !== 1) return false;
  let [count, at] = leb(bytes, exports.start);
  let fixed = false;
  while (count--) {
    let len;
    [len, at] = leb(bytes, at);
    const name = bytes.subarray(at, at + len).toString("utf8");
    at += len;
    const kind = bytes[at++];
    const indexAt = at;
    let index;
    [index, at] = leb(bytes, at);
    if (
      kind === 1 &&
      name === "__wbindgen_externrefs" &&
      types[index] !== EXTERNREF
    ) {
      // Table indices here are below 128: one LEB byte either way.
      if (at - indexAt !== 1 || externrefs[0] > 127) {
        throw new Error("unexpected table export encoding");
      }
      bytes[indexAt] = externrefs[0];
      fixed = true;
    }
  }
  if (fixed) {
    writeFileSync(file, bytes);
    console.log(`${file}: pointed __wbindgen_externrefs at the externref table (binaryen 108)`);
  }
  // The module must still compile.
  new WebAssembly.Module(bytes);
  return fixed;
}
