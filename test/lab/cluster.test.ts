/**
 * The lab cluster itself (test/lab/cluster.ts): a real API server, controller manager, scheduler and kubelet on
 * containerd 1.6; a privileged hostNetwork DaemonSet pod really runs; after stop nothing is left.
 */
import * as fs from "fs";
import * as path from "path";
import { startCluster, Cluster, CLUSTER_NODE_NAME, CLUSTER_PORTS, PAUSE_IMAGE } from "./cluster";
import { spawnSync } from "child_process";
import { isAlive, portOpen, readPid } from "./proc";

jest.setTimeout(240_000);

interface NodeObject {
  metadata: { name: string; labels?: Record<string, string> };
  status: {
    conditions: { type: string; status: string }[];
    addresses: { type: string; address: string }[];
    nodeInfo: { containerRuntimeVersion: string; kubeletVersion: string };
  };
}

describe("lab cluster (etcd, kube-apiserver, controller manager, scheduler, kubelet on containerd 1.6)", () => {
  let cluster: Cluster;
  let pids: number[] = [];
  const shimSockets = () => (fs.existsSync("/run/containerd/s") ? fs.readdirSync("/run/containerd/s") : []);
  let socketsBefore: string[] = [];
  const list = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d) : []);
  const hostLogDirs = ["/var/log/pods", "/var/log/containers"];
  let logsBefore: string[][] = [];

  beforeAll(async () => {
    socketsBefore = shimSockets();
    logsBefore = hostLogDirs.map(list);
    cluster = await startCluster({ log: (l) => process.stderr.write(l + "\n") });
    pids = fs.readdirSync(path.join(cluster.dir, "pids")).map((f) => parseInt(fs.readFileSync(path.join(cluster.dir, "pids", f), "utf8"), 10));
  }, 150_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  test("the node is Ready, runs containerd 1.6 and has InternalIP 127.0.0.1", async () => {
    expect(cluster.versions.kubernetes).toBe("v1.37.2");
    const node = await cluster.get<NodeObject>(`/api/v1/nodes/${CLUSTER_NODE_NAME}`);
    expect(node.status.conditions.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/1\.6\.\d+/);
    expect(node.status.nodeInfo.kubeletVersion).toBe("v1.37.2");
    expect(node.status.addresses).toContainEqual({ type: "InternalIP", address: "127.0.0.1" });
    expect(fs.readFileSync(cluster.kubeconfig, "utf8")).toContain("client-key-data");
    // Every field of the kubelet's config is known to it (unknown ones are only warned about).
    expect(fs.readFileSync(path.join(cluster.dir, "logs", "kubelet.log"), "utf8")).not.toMatch(/unknown field/i);
    const out = await cluster.kubectlOk(["get", "nodes", "-o", "wide"]);
    expect(out).toMatch(/127\.0\.0\.1\s+Ready/);
  });

  test("the node's systemctl restarts containerd: a new process on the same config, answering again", async () => {
    const before = readPid(cluster.dir, "containerd")!;
    expect(spawnSync(cluster.systemctl, ["is-active", "containerd"], { encoding: "utf8" }).stdout.trim()).toBe("active");
    const r = spawnSync(cluster.systemctl, ["restart", "containerd"], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(0);
    const after = readPid(cluster.dir, "containerd")!;
    expect(after).not.toBe(before);
    expect(isAlive(before)).toBe(false);
    expect(isAlive(after)).toBe(true);
    expect(fs.readFileSync(`/proc/${after}/cmdline`, "utf8").split("\0")).toContain(cluster.containerdConfig);
    expect(spawnSync(cluster.systemctl, ["restart", "kubelet"]).status).toBe(5);
    expect(fs.readFileSync(path.join(cluster.dir, "systemctl.log"), "utf8")).toMatch(/\trestart\tcontainerd\t0\n/);
    for (let i = 0; i < 60; i++) {
      const ok = spawnSync("ctr", ["--address", cluster.containerdSocket, "version"], { timeout: 5000 }).status === 0;
      if (ok) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    expect(spawnSync("ctr", ["--address", cluster.containerdSocket, "version"], { timeout: 5000 }).status).toBe(0);
  });

  test("a privileged hostNetwork DaemonSet pod runs on the node", async () => {
    const ds = {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "lab-agent", namespace: "kube-system" },
      spec: {
        selector: { matchLabels: { app: "lab-agent" } },
        template: {
          metadata: { labels: { app: "lab-agent" } },
          spec: {
            hostNetwork: true,
            hostPID: true,
            automountServiceAccountToken: false,
            tolerations: [{ operator: "Exists" }],
            terminationGracePeriodSeconds: 1,
            containers: [{ name: "agent", image: PAUSE_IMAGE, imagePullPolicy: "Never", securityContext: { privileged: true } }],
          },
        },
      },
    };
    await cluster.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify(ds) });
    await cluster.kubectlOk(["-n", "kube-system", "rollout", "status", "daemonset/lab-agent", "--timeout=90s"], { timeoutMs: 100_000 });
    const pods = JSON.parse(await cluster.kubectlOk(["-n", "kube-system", "get", "pods", "-l", "app=lab-agent", "-o", "json"])) as {
      items: { spec: { nodeName: string; hostNetwork: boolean }; status: { phase: string; containerStatuses: { ready: boolean }[] } }[];
    };
    expect(pods.items).toHaveLength(1);
    expect(pods.items[0].spec).toMatchObject({ nodeName: CLUSTER_NODE_NAME, hostNetwork: true });
    expect(pods.items[0].status.phase).toBe("Running");
    expect(pods.items[0].status.containerStatuses[0].ready).toBe(true);
  });

  test("stop kills every process and removes the directory, the shim sockets and the kubepods cgroups", async () => {
    const dir = cluster.dir;
    // Every process started so far, containerd's restarts included.
    const current = fs.readdirSync(path.join(dir, "pids")).map((f) => parseInt(fs.readFileSync(path.join(dir, "pids", f), "utf8"), 10));
    pids = [...new Set([...pids, ...current])];
    const report = await cluster.stop();
    expect(report.survivors).toEqual([]);
    expect(report.mounts).toEqual([]);
    expect(report.cgroupsLeft).toEqual([]);
    expect(report.removed).toBe(true);
    expect(shimSockets().filter((s) => !socketsBefore.includes(s))).toEqual([]);
    // Pod logs stayed in the cluster's directory (podLogsDir).
    expect(hostLogDirs.map(list)).toEqual(logsBefore);
    expect(fs.existsSync(dir)).toBe(false);
    expect(pids.filter(isAlive)).toEqual([]);
    for (const port of Object.values(CLUSTER_PORTS)) expect(await portOpen(port)).toBe(false);
    expect(fs.readdirSync("/sys/fs/cgroup").filter((h) => fs.existsSync(path.join("/sys/fs/cgroup", h, "kubepods")))).toEqual([]);
    expect(await cluster.stop()).toBe(report); // idempotent
  });
});

describe("lab cluster start refusals", () => {
  test("a taken port is named before anything starts or any directory is made", async () => {
    const net = await import("net");
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(CLUSTER_PORTS.apiserver, "127.0.0.1", () => r()));
    const before = fs.readdirSync("/tmp").filter((d) => d.startsWith("regmirror-cluster-"));
    try {
      await expect(startCluster()).rejects.toThrow(`port 127.0.0.1:${CLUSTER_PORTS.apiserver} (apiserver) is in use`);
    } finally {
      await new Promise((r) => srv.close(r));
    }
    expect(fs.readdirSync("/tmp").filter((d) => d.startsWith("regmirror-cluster-"))).toEqual(before);
  });
});
