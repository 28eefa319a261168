/**
 * RegistryMirrorsFromCluster's node list (clusterMirrorNodes): which listed Nodes become RegistryMirrors nodes,
 * with which connection, and the errors that name a Node before anything is registered.
 */
import * as pulumi from "@pulumi/pulumi";
import { clusterMirrorNodes, parseNode } from "../../src/kubernetes";
import { RegistryMirrorsArgumentsError } from "../../src/component/errors";

const node = (name: string, crv: string, ip?: string) =>
  parseNode({
    metadata: { name },
    status: { addresses: ip ? [{ type: "InternalIP", address: ip }] : [], nodeInfo: { containerRuntimeVersion: crv } },
  });
const listed = [node("w1", "containerd://1.7.13", "10.0.1.11"), node("w2", "cri-o://1.36.3", "10.0.1.12")];
type Args = Parameters<typeof clusterMirrorNodes>[1];
const base: Args = {
  mirrors: [],
  kubeconfig: "kubeconfig",
  login: { user: "ubuntu", privateKey: "KEY", port: 2222 },
  nodes: { w1: { hostKey: "ssh-ed25519 AAAA1" }, w2: { hostKey: "ssh-ed25519 AAAA2", port: 22, runtime: "cri-o", sudo: true } },
};
const resolved = <T>(o: pulumi.Input<T>): Promise<T> => (o as unknown as { promise(): Promise<T> }).promise();

const problems = (args: Args, nodes = listed): string[] => {
  try {
    clusterMirrorNodes(nodes, args);
  } catch (e) {
    if (e instanceof RegistryMirrorsArgumentsError) return e.problems.map((p) => `${p.path}: ${p.message}`);
    throw e;
  }
  return [];
};

describe("clusterMirrorNodes", () => {
  test("every listed Node with its entry: the runtime the cluster reports, the login with its InternalIP and host key", async () => {
    const out = clusterMirrorNodes(listed, base);
    expect(out.map((n) => [n.name, n.runtime, n.sudo])).toEqual([
      ["w1", "containerd", undefined],
      ["w2", "cri-o", true],
    ]);
    expect(await resolved(out[0].connection)).toEqual({
      user: "ubuntu",
      privateKey: "KEY",
      port: 2222,
      host: "10.0.1.11",
      hostKey: "ssh-ed25519 AAAA1",
    });
    expect(await resolved(out[1].connection)).toMatchObject({ host: "10.0.1.12", port: 22, hostKey: "ssh-ed25519 AAAA2" });
  });

  test("a listed Node without an entry is an error naming it and how to get its key, unless skipUnlisted", () => {
    const args = { ...base, nodes: { w1: base.nodes.w1 } };
    expect(problems(args)).toEqual([
      expect.stringMatching(/^nodes\[w2\]: the cluster lists this Node but nodes has no entry .*ssh-keyscan -t ed25519 10\.0\.1\.12/),
    ]);
    expect(clusterMirrorNodes(listed, { ...args, skipUnlisted: true }).map((n) => n.name)).toEqual(["w1"]);
  });

  test("a missing host key or address is named; insecureIgnoreHostKey passes on to the node", () => {
    const args = { ...base, nodes: { w1: {}, w2: base.nodes.w2 } };
    expect(problems(args)).toEqual([expect.stringMatching(/^nodes\[w1\]\.hostKey: is required: .*or set insecureIgnoreHostKey/)]);
    expect(clusterMirrorNodes(listed, { ...args, insecureIgnoreHostKey: true })[0].insecureIgnoreHostKey).toBe(true);
    expect(problems(base, [node("w1", "containerd://1.7.13")])).toEqual(["nodes[w1].host: is required: the Node reports no InternalIP"]);
  });

  test("a runtime that contradicts the cluster names both", () => {
    const args = { ...base, nodes: { ...base.nodes, w1: { hostKey: "k", runtime: "docker" as const } } };
    expect(() => clusterMirrorNodes(listed, args)).toThrow(/nodes\[w1\]\.runtime: "docker" was given, but the cluster reports containerd/);
  });
});
