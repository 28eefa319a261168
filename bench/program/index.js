// Benchmark program: RegistryMirrors on the nodes and mirrors of the JSON file named by $REGMIRROR_BENCH_SPEC:
// { "component": "<abs path of the compiled src/index.js>", "mirrors": [...], "maxParallelRestarts": N,
//   "nodes": [{ "name", "host", "port", "user", "privateKeyPath", "hostKey", "runtime" }], "probe"?, "verify"? }
// Plain JS so the engine measures the component, not ts-node.
"use strict";
const fs = require("fs");
const specPath = process.env.REGMIRROR_BENCH_SPEC;
if (!specPath) throw new Error("REGMIRROR_BENCH_SPEC is not set (path of the bench spec JSON)");
const spec = JSON.parse(fs.readFileSync(specPath, "utf8"));
const { RegistryMirrors } = require(spec.component);

const mirrors = new RegistryMirrors("mirrors", {
  mirrors: spec.mirrors,
  nodes: spec.nodes.map((n) => ({
    name: n.name,
    runtime: n.runtime,
    connection: {
      host: n.host,
      port: n.port,
      user: n.user,
      privateKey: fs.readFileSync(n.privateKeyPath, "utf8"),
      hostKey: n.hostKey,
    },
  })),
  rollout: { maxParallelRestarts: spec.maxParallelRestarts },
  ...(spec.probe ? { probe: spec.probe } : {}),
  ...(spec.verify ? { verify: spec.verify } : {}),
});
exports.actions = mirrors.reports.apply((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.action])));
