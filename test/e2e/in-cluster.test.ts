/**
 * The in-cluster mode through the real pulumi CLI and the real pulumi-resource-kubernetes 4.25.0, on the lab
 * cluster (test/lab/cluster.ts): its kubelet runs the DaemonSet's pod (the node agent's image, built offline from
 * src/in-cluster/pod) on its node, whose containerd reads hosts.toml files from the cluster's hosts directory. The
 * registries are the lab's (test/lab); the node has no route to docker.io, so a pull that succeeds came from the
 * mirror.
 */
import * as fs from "fs";
import * as path from "path";
import type { Lab } from "../lab";
import type { Cluster } from "../lab/cluster";
import { readPid } from "../lab/proc";
import { crictlPull, objectsLeft, startInClusterLab, type InClusterLab } from "./in-cluster-lab";
import { ProgramStack, ROOT } from "./stack";

jest.setTimeout(600_000);

describe("RegistryMirrorsInCluster through the real engine and pulumi-resource-kubernetes", () => {
  let env: InClusterLab;
  let lab: Lab;
  let cluster: Cluster;
  let stack: ProgramStack;
  let hostsToml: string;
  let handWritten: string;
  let settings: InClusterLab["settings"];
  const good = () => [{ upstream: "docker.io", endpoints: [{ url: lab.registry("mirror").url }] }];

  beforeAll(async () => {
    env = await startInClusterLab();
    ({ lab, cluster, hostsToml, handWritten, settings } = env);
    stack = new ProgramStack(`incluster${process.pid}`, { projectDir: path.join(ROOT, "test/e2e/in-cluster") });
    await stack.init();
    await stack.configure({ kubeconfig: cluster.kubeconfig, mirrors: good(), inCluster: settings });
  }, 1_200_000);

  afterAll(async () => {
    await stack?.dispose().catch(() => undefined);
    await env?.stop();
  });

  test("preview shows the ConfigMap's files before anything exists; up rolls the DaemonSet and a pull is served by the mirror", async () => {
    // The ConfigMap's scripts embed each file; a preview shortens long values unless --show-full-output.
    const preview = await stack.run(["preview", "--diff", "--show-full-output"]);
    expect(preview.out).toMatch(/kubernetes:apps\/v1:DaemonSet/);
    expect(preview.out).toContain(`[host.\\"${lab.registry("mirror").url}\\"]`);
    expect(preview.out).toContain(hostsToml);
    expect(preview.out).toMatch(/data\s*: \[secret\]/);
    expect(preview.out).toMatch(/leaves config\.toml as it is: make sure its CRI registry table sets config_path/);
    expect(fs.readFileSync(hostsToml, "utf8")).toBe(handWritten);

    const up = await stack.run(["up", "--yes", "--skip-preview"]);
    expect(up.out).toMatch(/mirrors-rollout\s+created/);
    const rollout = JSON.parse((await stack.run(["stack", "output", "rollout", "--json"])).stdout) as {
      nodes: { node: string; ready: boolean; log?: string[] }[];
    };
    expect(rollout.nodes.map((n) => [n.node, n.ready])).toEqual([["127.0.0.1", true]]);
    expect(rollout.nodes[0].log?.join("\n")).toMatch(/RM-EFFECTIVE containerd reads /);
    expect(rollout.nodes[0].log?.join("\n")).toMatch(/RM-PROBE-RESULT \S+ ok/);
    const written = fs.readFileSync(hostsToml, "utf8");
    expect(written).toContain(`[host."${lab.registry("mirror").url}"]`);

    const img = await lab.pushImage("library/hello");
    const before = lab.requestsFor("mirror", img.repo).length;
    const pull = await crictlPull(cluster, img.ref);
    expect(pull.out).toMatch(/Image is up to date/);
    expect(lab.requestsFor("mirror", img.repo).length).toBeGreaterThan(before);
  });

  test("a second up changes nothing", async () => {
    const up = await stack.run(["up", "--yes", "--skip-preview"]);
    expect(up.out).toMatch(/Resources:\s+\d+ unchanged\s+Duration/);
  });

  test("a mirrors-only change rolls through the DaemonSet without restarting containerd", async () => {
    const pid = readPid(cluster.dir, "containerd");
    const gcr = { upstream: "gcr.io", endpoints: [{ url: lab.registry("mirror").url }] };
    // A mirror with a private CA and credentials (the password a secret of the stack's configuration).
    const auth = lab.registry("auth-mirror");
    const quay = { upstream: "quay.io", endpoints: [{ url: auth.url, caCert: auth.caPem, auth: { username: auth.username } }] };
    await stack.configure(
      { kubeconfig: cluster.kubeconfig, mirrors: [...good(), gcr, quay], inCluster: settings },
      { "mirrors[2].endpoints[0].auth.password": auth.password! },
    );
    const up = await stack.run(["up", "--yes", "--skip-preview"]);
    expect(up.out).toMatch(/mirrors-rollout\s+updated/);
    expect(fs.readFileSync(path.join(cluster.hostsDir, "gcr.io", "hosts.toml"), "utf8")).toContain(lab.registry("mirror").url);
    const quayToml = path.join(cluster.hostsDir, "quay.io", "hosts.toml");
    expect(fs.readFileSync(quayToml, "utf8")).toContain(Buffer.from(`${auth.username}:${auth.password}`).toString("base64"));
    expect(fs.statSync(quayToml).mode & 0o777).toBe(0o600);
    // The credential is in the cluster's Secret only: not in the state, the ConfigMap or any CLI output.
    expect(await stack.exportState()).not.toContain(auth.password);
    expect(await cluster.kubectlOk(["get", "configmaps", "-n", "kube-system", "-l", "registry-mirrors.io/instance", "-o", "yaml"])).not.toContain(
      Buffer.from(`${auth.username}:${auth.password}`).toString("base64"),
    );
    expect(stack.outputs.join("\n")).not.toContain(auth.password);

    // A rotated credential alone (the scripts unchanged) still rolls the nodes: the pods follow the Secret's version,
    // not a hash of its content. The mirror does not know the new password, so its probe may only warn here.
    const rotated = `rotated-${process.pid}-Qx7`;
    await stack.configure(
      { kubeconfig: cluster.kubeconfig, mirrors: [...good(), gcr, quay], inCluster: { ...settings, probe: "warn" } },
      { "mirrors[2].endpoints[0].auth.password": rotated },
    );
    const rotation = await stack.run(["up", "--yes", "--skip-preview"]);
    expect(rotation.out).toMatch(/mirrors-rollout\s+updated/);
    expect(fs.readFileSync(quayToml, "utf8")).toContain(Buffer.from(`${auth.username}:${rotated}`).toString("base64"));
    const dsJson = await cluster.kubectlOk(["get", "daemonset", "mirrors", "-n", "kube-system", "-o", "json"]);
    expect(dsJson).not.toContain(rotated);
    expect(await stack.exportState()).not.toContain(rotated);
    expect(readPid(cluster.dir, "containerd")).toBe(pid);
    const img = await lab.pushImage("lab/hello", undefined, { registry: "gcr.io" });
    const pull = await crictlPull(cluster, img.ref);
    expect(pull.out).toMatch(/Image is up to date/);
  });

  test("a broken mirror fails pulumi up with the node and the probe's reason, and the node keeps its files", async () => {
    const files = fs.readFileSync(hostsToml, "utf8");
    await stack.configure({
      kubeconfig: cluster.kubeconfig,
      mirrors: [{ upstream: "docker.io", endpoints: [{ url: "http://127.0.0.1:9" }] }],
      inCluster: settings,
    });
    const up = await stack.run(["up", "--yes", "--skip-preview"], { expectFailure: true });
    expect(up.out).toMatch(/registry-mirrors: node 127\.0\.0\.1: step probe: [\s\S]*http:\/\/127\.0\.0\.1:9: connection refused/);
    expect(fs.readFileSync(hostsToml, "utf8")).toBe(files);
    expect(fs.existsSync(path.join(cluster.hostsDir, "gcr.io", "hosts.toml"))).toBe(true);
  });

  test("destroy rolls every node back to its files, then deletes the DaemonSet", async () => {
    await stack.configure({ kubeconfig: cluster.kubeconfig, mirrors: good(), inCluster: settings });
    await stack.run(["up", "--yes", "--skip-preview"]);
    await stack.run(["destroy", "--yes", "--skip-preview"]);
    expect(fs.readFileSync(hostsToml, "utf8")).toBe(handWritten);
    expect(fs.existsSync(path.join(cluster.hostsDir, "gcr.io"))).toBe(false);
    expect(fs.readdirSync(cluster.hostsDir)).toEqual(["docker.io"]);
    expect(await objectsLeft(cluster)).toBe("");
    expect(fs.readFileSync(hostsToml, "utf8")).toBe(handWritten);
    const state = path.join(cluster.dir, "registry-mirrors-state");
    expect(fs.existsSync(state) ? fs.readdirSync(state).filter((f) => f !== "lock") : []).toEqual([]);
  });
});
