import { nodesFromCluster, parseNode } from "../../src/kubernetes";
import { RegistryMirrorsError } from "../../src/model/types";

const node = (name: string, crv: string, ip: string) =>
  parseNode({
    metadata: { name, labels: { pool: "a" } },
    status: { addresses: [{ type: "InternalIP", address: ip }], nodeInfo: { containerRuntimeVersion: crv } },
  });

const nodes = [node("w1", "containerd://1.7.13", "10.0.1.11"), node("w2", "cri-o://1.36.3", "10.0.1.12"), node("w3", "docker://24.0.7", "10.0.1.13")];
const connection = (ip: string) => ({ host: ip, user: "ubuntu", hostKey: "ssh-ed25519 AAAA" });

describe("nodesFromCluster", () => {
  test("name and runtime from the cluster, the connection from the stack", () => {
    expect(nodesFromCluster(nodes, { node: (n) => ({ connection: connection(n.internalIP!), sudo: true }) })).toEqual([
      { name: "w1", runtime: "containerd", connection: connection("10.0.1.11"), sudo: true },
      { name: "w2", runtime: "cri-o", connection: connection("10.0.1.12"), sudo: true },
      { name: "w3", runtime: "docker", connection: connection("10.0.1.13"), sudo: true },
    ]);
  });

  test("undefined leaves a node out; auto and a compatible runtime (k3s on containerd) are accepted", () => {
    const out = nodesFromCluster(nodes, {
      node: (n) => (n.name === "w3" ? undefined : { connection: connection(n.internalIP!), runtime: n.name === "w1" ? "k3s" : "auto" }),
    });
    expect(out.map((n) => [n.name, n.runtime])).toEqual([
      ["w1", "k3s"],
      ["w2", "cri-o"],
    ]);
  });

  test("a runtime that contradicts the cluster is an error naming both; every node is reported", () => {
    let err: unknown;
    try {
      nodesFromCluster(nodes, {
        node: (n) => ({ connection: n.name === "w3" ? undefined! : connection(n.internalIP!), runtime: n.name === "w2" ? "containerd" : undefined }),
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RegistryMirrorsError);
    expect((err as RegistryMirrorsError).problems).toEqual([
      {
        path: "nodes[w2].runtime",
        message: '"containerd" was given, but the cluster reports cri-o (status.nodeInfo.containerRuntimeVersion = "cri-o://1.36.3")',
      },
      { path: "nodes[w3].connection", message: "is missing: the node function must return the node's SSH connection" },
    ]);
  });
});
