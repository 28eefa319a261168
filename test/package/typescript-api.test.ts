/**
 * The TypeScript API after the args became the package schema's types: what callers wrote before still type-checks
 * (ts-jest type-checks this file; `npm run lint` runs tsc over it too) — enum values as plain strings, the plain spec
 * types, Outputs and secrets anywhere inside a mirror or a connection — and what must not, does not.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Mirror, MirrorArgs, MirrorNodeArgs, RegistryMirrorsArgs, VerifyArgs } from "../../src";
import { Capability, NodeRuntime, ProbeMode, RuntimeKind, VerifyMode } from "../../src";

const plain: Mirror[] = [{ upstream: "docker.io", endpoints: [{ url: "https://m:5000", capabilities: ["pull", "resolve"] }] }];

const withOutputs: MirrorArgs[] = [
  {
    upstream: pulumi.output("gcr.io"),
    endpoints: pulumi.output([
      {
        url: pulumi.output("https://m:5000"),
        capabilities: [Capability.Pull, pulumi.output("resolve" as const)],
        auth: { username: "robot", password: pulumi.secret("token") },
        headers: { "X-Token": pulumi.secret("t") },
        skipVerify: false,
      },
    ]),
    fallback: pulumi.output(false),
  },
];

const node: MirrorNodeArgs = {
  name: "worker-1",
  runtime: "containerd",
  connection: { host: "10.0.0.1", port: 22, user: "root", privateKey: pulumi.secret("key"), hostKey: pulumi.output("ssh-ed25519 AAAA") },
  paths: { hostsDir: "/etc/containerd/certs.d" },
  legacy: "migrate",
  probe: "warn",
  verify: { pull: "docker.io/library/busybox:1.36" },
};

const verify: VerifyArgs = { when: "always", effectiveConfig: true };

const args: RegistryMirrorsArgs[] = [
  { mirrors: plain, nodes: [node], rollout: { maxParallelRestarts: 2 }, verify, probe: "error", legacy: "refuse", healthTimeoutSeconds: 30 },
  {
    mirrors: withOutputs,
    nodes: [
      { ...node, runtime: "auto" },
      { ...node, name: "n2", runtime: RuntimeKind.CriO },
    ],
    takeOver: ["p/s/m"],
  },
  { mirrors: pulumi.output(plain), nodes: [], verify: { when: VerifyMode.OnChange }, probe: ProbeMode.Off },
];

// @ts-expect-error a runtime that does not exist
const badRuntime: MirrorNodeArgs = { ...node, runtime: "podman" };
// @ts-expect-error a capability that does not exist
const badCapability: Mirror = { upstream: "docker.io", endpoints: [{ url: "https://m", capabilities: ["pul"] }] };

it("type-checks the TypeScript API as callers use it", () => {
  expect(args).toHaveLength(3);
  expect([badRuntime, badCapability]).toHaveLength(2);
  expect(Object.values(NodeRuntime)).toEqual(expect.arrayContaining([...Object.values(RuntimeKind), "auto"]));
});
