/**
 * The lab for the in-cluster mode's engine tests (TypeScript and YAML programs): one lab node for the registries
 * (test/lab), the lab cluster (test/lab/cluster.ts) whose kubelet runs the DaemonSet's pod on its node, a
 * hand-written hosts.toml on that node that every test must give back on destroy, and the component's node settings
 * for the kubelet's node (its image, hosts directory, state directory, CRI socket, crictl). The node has no route to
 * docker.io: a pull that succeeds came from the mirror.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { startLab, toolsBin, type Lab } from "../lab";
import { startCluster, type Cluster } from "../lab/cluster";
import { PULUMI_HOME, requireTools } from "./stack";

const KUBERNETES_PLUGIN = path.join(PULUMI_HOME, "plugins/resource-kubernetes-v4.25.0/pulumi-resource-kubernetes");

export interface InClusterLab {
  readonly lab: Lab;
  readonly cluster: Cluster;
  /** docker.io's hosts.toml on the kubelet's node. */
  readonly hostsToml: string;
  /** What it held before any test (written by hand). */
  readonly handWritten: string;
  /** The component's node settings for the kubelet's node. */
  readonly settings: {
    image: string;
    imagePullPolicy: "Never";
    paths: { hostsDir: string };
    stateDir: string;
    criSocket: string;
    crictl: string;
    rolloutTimeoutSeconds: number;
  };
  stop(): Promise<void>;
}

/** `containerdReadsHostsDir: false`: the node's config.toml sets no config_path (for `allowConfigEdits`). */
export async function startInClusterLab(opts: { containerdReadsHostsDir?: boolean } = {}): Promise<InClusterLab> {
  requireTools();
  if (!fs.existsSync(KUBERNETES_PLUGIN)) throw new Error(`${KUBERNETES_PLUGIN} is missing: run scripts/tools.sh kubernetes-provider`);
  const lab = await startLab({ nodes: [{ name: "node1", runtime: "containerd" }], waitForOtherLabMs: 900_000 });
  let cluster: Cluster;
  try {
    cluster = await startCluster({ log: (l) => process.stderr.write(l + "\n"), containerdReadsHostsDir: opts.containerdReadsHostsDir });
  } catch (e) {
    await lab.stop();
    throw e;
  }
  // A hosts.toml someone wrote by hand before: backed up while the component's is there, restored on destroy.
  const hostsToml = path.join(cluster.hostsDir, "docker.io", "hosts.toml");
  const handWritten = '# written by hand\nserver = "https://registry-1.docker.io"\n';
  fs.mkdirSync(path.dirname(hostsToml), { recursive: true });
  fs.writeFileSync(hostsToml, handWritten);
  const settings = {
    image: cluster.nodeAgentImage,
    imagePullPolicy: "Never" as const,
    paths: { hostsDir: cluster.hostsDir },
    stateDir: path.join(cluster.dir, "registry-mirrors-state"),
    criSocket: cluster.containerdSocket,
    crictl: path.join(toolsBin(), "crictl"),
    rolloutTimeoutSeconds: 120,
  };
  return {
    lab,
    cluster,
    hostsToml,
    handWritten,
    settings,
    async stop() {
      await cluster.stop();
      await lab.stop();
    },
  };
}

/** `crictl pull` through the kubelet node's containerd (its CRI, as the kubelet pulls). */
export function crictlPull(cluster: Cluster, image: string): Promise<{ code: number; out: string }> {
  const sock = `unix://${cluster.containerdSocket}`;
  return new Promise((resolve) =>
    execFile(
      path.join(toolsBin(), "crictl"),
      ["-r", sock, "-i", sock, "--timeout", "60s", "pull", image],
      { timeout: 90_000 },
      (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: stdout + stderr }),
    ),
  );
}

/**
 * After a destroy: the component's objects in the cluster, waited for up to 30 s (the DaemonSet's delete is not
 * awaited, skipAwait: its pods go with it, which changes nothing on the node). Empty when all are gone.
 */
export async function objectsLeft(cluster: Cluster): Promise<string> {
  let left = "";
  for (let i = 0; i < 60; i++) {
    left = (
      await cluster.kubectlOk(["get", "daemonsets,configmaps,secrets", "-n", "kube-system", "-l", "registry-mirrors.io/instance", "-o", "name"])
    ).trim();
    if (left === "") break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return left;
}
