// One workerd process, for the tests that run workers in it
// (tests/js/workerd.test.mjs, sdk/typescript/tests/workerd.test.mjs): it
// serves a capnp config, reports the port of each named socket it binds
// (--control-fd: the config binds port 0), and stops with SIGTERM. Node
// modules only, so a test of another npm project can import it; the
// caller resolves the binary from its own `workerd` package.

import { spawn } from "node:child_process";

/** The binary path the `workerd` package exports (`import("workerd")`). */
export function workerdBinary(workerdModule) {
  // CommonJS with __esModule: the path is `default.default` seen from ESM.
  return workerdModule.default?.default ?? workerdModule.default;
}

/**
 * Runs `binary serve configFile` until every socket in `sockets` listens.
 * Answers `{ ports, log, stop }`: the port of each socket by name, what
 * workerd printed so far, and a stop that waits for the exit.
 */
export async function spawnWorkerd(binary, configFile, sockets) {
  let output = "";
  const child = spawn(binary, ["serve", configFile, "--control-fd=3"], {
    stdio: ["ignore", "pipe", "pipe", "pipe"],
  });
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
  const ports = {};
  try {
    await new Promise((resolve, reject) => {
      let control = "";
      const timer = setTimeout(() => reject(new Error(`workerd did not listen:\n${output}`)), 30_000);
      child.on("exit", (code) => reject(new Error(`workerd exited with ${code}:\n${output}`)));
      child.stdio[3].on("data", (d) => {
        control += d;
        for (const line of control.split("\n").filter(Boolean)) {
          const event = JSON.parse(line);
          if (event.event === "listen") ports[event.socket] = event.port;
        }
        if (sockets.every((name) => ports[name])) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { ports, log: () => output, stop };
}
