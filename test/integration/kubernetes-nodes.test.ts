/**
 * src/kubernetes against the real API server of the lab cluster (test/lab/cluster.ts): its real kubelet node, plus
 * Nodes created through the API with the runtimes other clusters report (their kubelets do not exist: only reads).
 */
import * as fs from "fs";
import * as path from "path";
import { stringify } from "yaml";
import { listNodes, mirrorNodesFromCluster } from "../../src/kubernetes";
import { RegistryMirrorsError } from "../../src/model/types";
import { startCluster, Cluster, CLUSTER_NODE_NAME } from "../lab/cluster";

jest.setTimeout(180_000);

describe("listNodes against a real API server", () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ log: (l) => process.stderr.write(l + "\n") });
    // Two more Nodes, as a CRI-O and a Docker cluster's kubelets would report themselves.
    for (const [name, crv, ip, pool] of [
      ["lab-crio", "cri-o://1.36.3", "10.0.1.12", "b"],
      ["lab-docker", "docker://24.0.7", "10.0.1.13", "a"],
    ]) {
      await cluster.kubectlOk(["create", "-f", "-"], {
        input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name, labels: { "registry-mirrors.lab/pool": pool } } }),
      });
      await cluster.kubectlOk([
        "patch",
        "node",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        JSON.stringify({ status: { nodeInfo: { containerRuntimeVersion: crv }, addresses: [{ type: "InternalIP", address: ip }] } }),
      ]);
    }
  }, 150_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  test("every node with its InternalIP, runtime and labels, over several pages", async () => {
    const nodes = await listNodes({ kubeconfig: cluster.kubeconfig, pageSize: 1 });
    expect(nodes.map((n) => [n.name, n.internalIP, n.runtime.kind])).toEqual([
      [CLUSTER_NODE_NAME, "127.0.0.1", "containerd"],
      ["lab-crio", "10.0.1.12", "cri-o"],
      ["lab-docker", "10.0.1.13", "docker"],
    ]);
    const real = nodes[0];
    expect(real.containerRuntimeVersion).toMatch(/^containerd:\/\/1\.6\.\d+/);
    expect(real.runtime.version).toMatch(/^1\.6\.\d+$/);
    expect(real).toMatchObject({ ready: true, kubeletVersion: "v1.37.2", labels: { "kubernetes.io/hostname": CLUSTER_NODE_NAME } });
    expect(nodes[1]).toMatchObject({ runtime: { kind: "cri-o", version: "1.36.3" }, labels: { "registry-mirrors.lab/pool": "b" }, ready: false });
  });

  test("a label selector", async () => {
    const nodes = await listNodes({ kubeconfig: cluster.kubeconfig, labelSelector: "registry-mirrors.lab/pool=a" });
    expect(nodes.map((n) => n.name)).toEqual(["lab-docker"]);
    expect(await listNodes({ kubeconfig: fs.readFileSync(cluster.kubeconfig, "utf8"), labelSelector: "registry-mirrors.lab/pool" })).toHaveLength(2);
  });

  test("a user the API server does not know gets its message; a runtime that contradicts the cluster is refused", async () => {
    const other = path.join(cluster.dir, "nobody.kubeconfig");
    fs.writeFileSync(
      other,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "lab", cluster: { server: cluster.server, "certificate-authority-data": Buffer.from(cluster.caPem).toString("base64") } }],
        users: [{ name: "nobody", user: { token: "not-a-token" } }],
        contexts: [{ name: "lab", context: { cluster: "lab", user: "nobody" } }],
        "current-context": "lab",
      }),
    );
    await expect(listNodes({ kubeconfig: other })).rejects.toThrow(`GET ${cluster.server}/api/v1/nodes?limit=500: HTTP 401: Unauthorized`);
    const run = mirrorNodesFromCluster(
      { kubeconfig: cluster.kubeconfig },
      { node: (n) => ({ connection: { host: n.internalIP! }, runtime: "containerd" }) },
    );
    await expect(run).rejects.toThrow(RegistryMirrorsError);
    await expect(run).rejects.toThrow(/nodes\[lab-crio\]\.runtime: "containerd" was given, but the cluster reports cri-o/);
  });
});
