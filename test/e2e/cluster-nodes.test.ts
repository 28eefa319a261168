/**
 * Nodes from the cluster through the real pulumi engine: the stack test/e2e/cluster-nodes lists the Nodes of the lab
 * cluster's real API server and configures the SSH lab nodes of the same names. The cluster's Nodes for the SSH
 * nodes are created through the API with the runtime each lab node really runs (their kubelets do not exist; the
 * cluster's own kubelet node has no SSH entry and is left out). A runtime in the stack that contradicts the cluster
 * fails the update, naming both.
 */
import * as path from "path";
import { startLab, type Lab } from "../lab";
import { addNode, startCluster, type Cluster } from "../lab/cluster";
import { parseRuntimeVersion } from "../../src/model/version";
import { ProgramStack, requireTools, ROOT } from "./stack";

jest.setTimeout(300_000);

const HOSTS_TOML = "/etc/containerd/certs.d/docker.io/hosts.toml";

describe("RegistryMirrors on the nodes a real API server lists, through the real pulumi CLI", () => {
  let lab: Lab;
  let cluster: Cluster;
  let stack: ProgramStack;
  let config: Record<string, unknown> = {};
  let ssh: Record<string, Record<string, unknown>> = {};

  beforeAll(async () => {
    requireTools();
    lab = await startLab({
      nodes: [
        { name: "node1", runtime: "containerd" },
        { name: "node2", runtime: "containerd2" },
      ],
      waitForOtherLabMs: 900_000,
    });
    cluster = await startCluster({ log: (l) => process.stderr.write(l + "\n") });
    const d = lab.describe();
    for (const n of d.nodes) {
      await addNode(cluster, {
        name: n.name,
        internalIP: n.host,
        containerRuntimeVersion: `containerd://${parseRuntimeVersion(n.runtimeVersion).version}`,
        labels: { "registry-mirrors.lab/ssh": "yes" },
      });
      ssh[n.name] = { host: n.host, port: n.port, user: n.user, hostKey: n.hostKey };
    }
    config = {
      kubeconfig: cluster.kubeconfig,
      privateKeyPath: d.privateKeyPath,
      ssh,
      mirrors: [{ upstream: "docker.io", endpoints: [{ url: lab.registry("mirror").url }] }],
    };
    stack = new ProgramStack(`clusternodes${process.pid}`, { projectDir: path.join(ROOT, "test/e2e/cluster-nodes") });
    await stack.init();
    await stack.configure(config);
  }, 1_200_000);

  afterAll(async () => {
    await stack?.dispose().catch(() => undefined);
    await cluster?.stop();
    await lab?.stop();
  });

  test("pulumi up configures the listed nodes with the runtime the cluster reports", async () => {
    const r = await stack.run(["up", "--yes", "--skip-preview"]);
    const nodes = JSON.parse((await stack.run(["stack", "output", "nodes", "--json"])).stdout) as string[];
    expect(nodes).toEqual(["node1=containerd", "node2=containerd"]);
    const reports = await stack.reports<Record<string, { runtime: { kind: string; version: string } }>>();
    expect(Object.keys(reports).sort()).toEqual(["node1", "node2"]);
    expect(reports.node1.runtime.kind).toBe("containerd");
    expect(reports.node2.runtime.version).toMatch(/^2\./);
    for (const n of ["node1", "node2"]) expect(lab.tryReadNodeFile(n, HOSTS_TOML)).toContain(lab.registry("mirror").url);
    expect(r.out).not.toMatch(/127\.0\.0\.1-apply/); // the cluster's own node has no SSH entry
  });

  test("a no-op pulumi up reads the cluster again but opens no SSH session", async () => {
    const before = ["node1", "node2"].map((n) => lab.sshSessionCount(n));
    const r = await stack.run(["up", "--yes", "--skip-preview"]);
    expect(r.out).toMatch(/\d+ unchanged/);
    expect(r.out).not.toMatch(/\b(created|updated|replaced)\b/);
    expect(["node1", "node2"].map((n) => lab.sshSessionCount(n))).toEqual(before);
  });

  test("a runtime in the stack that contradicts the cluster fails the update, naming both", async () => {
    ssh = { ...ssh, node2: { ...ssh.node2, runtime: "cri-o" } };
    await stack.configure({ ...config, ssh });
    const r = await stack.run(["up", "--yes", "--skip-preview"], { expectFailure: true });
    expect(r.out).toContain('nodes[node2].runtime: "cri-o" was given, but the cluster reports containerd');
    expect(r.out).toMatch(/status\.nodeInfo\.containerRuntimeVersion = \\?"containerd:\/\/2\.\d+\.\d+\\?"/);
  });
});
