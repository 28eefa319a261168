/**
 * The in-cluster mode with `allowConfigEdits`, through the real engine and pulumi-resource-kubernetes, on a lab
 * cluster whose node's config.toml sets no config_path (see in-cluster-lab.ts): the read step reads the node from a
 * short-lived DaemonSet, the node's config.toml gets config_path and its containerd is restarted once (by the
 * node's systemctl, from the pod), a pull is served by the mirror; a mirrors-only change reads again and restarts
 * nothing; destroy gives config.toml back byte for byte and restarts containerd on it.
 */
import * as fs from "fs";
import * as path from "path";
import { readPid } from "../lab/proc";
import { crictlPull, objectsLeft, startInClusterLab, type InClusterLab } from "./in-cluster-lab";
import { ProgramStack, ROOT } from "./stack";

jest.setTimeout(600_000);

describe("RegistryMirrorsInCluster with allowConfigEdits on a node whose containerd does not read the hosts directory", () => {
  let env: InClusterLab;
  let stack: ProgramStack;
  let configBefore: string;
  let settings: Record<string, unknown>;
  const restarts = () =>
    fs.existsSync(path.join(env.cluster.dir, "systemctl.log"))
      ? fs
          .readFileSync(path.join(env.cluster.dir, "systemctl.log"), "utf8")
          .split("\n")
          .filter((l) => /\trestart\tcontainerd\t0$/.test(l)).length
      : 0;
  const mirror = () => ({ upstream: "docker.io", endpoints: [{ url: env.lab.registry("mirror").url }] });

  beforeAll(async () => {
    env = await startInClusterLab({ containerdReadsHostsDir: false });
    configBefore = fs.readFileSync(env.cluster.containerdConfig, "utf8");
    expect(configBefore).not.toContain("config_path");
    settings = {
      ...env.settings,
      paths: { ...env.settings.paths, containerdConfig: env.cluster.containerdConfig },
      allowConfigEdits: true,
      systemctl: env.cluster.systemctl,
    };
    stack = new ProgramStack(`inclusteredit${process.pid}`, { projectDir: path.join(ROOT, "test/e2e/in-cluster") });
    await stack.init();
    await stack.configure({ kubeconfig: env.cluster.kubeconfig, mirrors: [mirror()], inCluster: settings });
  }, 1_200_000);

  afterAll(async () => {
    await stack?.dispose().catch(() => undefined);
    await env?.stop();
  });

  test("up reads the node, sets config_path, restarts containerd once from the pod, and a pull is served by the mirror", async () => {
    const { cluster, lab } = env;
    const pid = readPid(cluster.dir, "containerd");
    const up = await stack.run(["up", "--yes", "--skip-preview"]);
    expect(up.out).toMatch(/mirrors-read\s+created/);
    expect(up.out).toMatch(/mirrors-rollout\s+created/);
    const reads = JSON.parse((await stack.run(["stack", "output", "reads", "--json"])).stdout) as { node: string; configEdited: boolean }[];
    expect(reads.map((r) => [r.node, r.configEdited])).toEqual([["127.0.0.1", true]]);
    const config = fs.readFileSync(cluster.containerdConfig, "utf8");
    expect(config).toContain(`config_path = "${cluster.hostsDir}"`);
    expect(restarts()).toBe(1);
    expect(readPid(cluster.dir, "containerd")).not.toBe(pid);
    const rollout = JSON.parse((await stack.run(["stack", "output", "rollout", "--json"])).stdout) as { nodes: { log?: string[] }[] };
    expect(rollout.nodes[0].log?.join("\n")).toMatch(/RM-ACTION restart/);
    expect(rollout.nodes[0].log?.join("\n")).toMatch(/RM-EFFECTIVE containerd reads /);

    const img = await lab.pushImage("library/edited");
    const before = lab.requestsFor("mirror", img.repo).length;
    const pull = await crictlPull(cluster, img.ref);
    expect(pull.out).toMatch(/Image is up to date/);
    expect(lab.requestsFor("mirror", img.repo).length).toBeGreaterThan(before);
    // The read step's DaemonSet is gone; nothing of the read is left in the cluster but the nodes' Secret.
    expect((await cluster.kubectlOk(["get", "daemonsets", "-n", "kube-system", "-o", "name"])).trim()).toBe("daemonset.apps/mirrors");
  });

  test("a second up changes nothing; a mirrors-only change reads again and restarts nothing", async () => {
    const { cluster, lab } = env;
    const noop = await stack.run(["up", "--yes", "--skip-preview"]);
    expect(noop.out).toMatch(/Resources:\s+\d+ unchanged\s+Duration/);
    const pid = readPid(cluster.dir, "containerd");
    const gcr = { upstream: "gcr.io", endpoints: [{ url: lab.registry("mirror").url }] };
    await stack.configure({ kubeconfig: cluster.kubeconfig, mirrors: [mirror(), gcr], inCluster: settings });
    const up = await stack.run(["up", "--yes", "--skip-preview"]);
    expect(up.out).toMatch(/mirrors-read\s+updated/);
    const reads = JSON.parse((await stack.run(["stack", "output", "reads", "--json"])).stdout) as { configEdited: boolean }[];
    expect(reads.map((r) => r.configEdited)).toEqual([false]);
    expect(fs.readFileSync(path.join(cluster.hostsDir, "gcr.io", "hosts.toml"), "utf8")).toContain(lab.registry("mirror").url);
    expect(readPid(cluster.dir, "containerd")).toBe(pid);
    expect(restarts()).toBe(1);
  });

  test("destroy gives config.toml back byte for byte, restarts containerd on it, and leaves no object", async () => {
    const { cluster, hostsToml, handWritten } = env;
    await stack.run(["destroy", "--yes", "--skip-preview"]);
    expect(fs.readFileSync(cluster.containerdConfig, "utf8")).toBe(configBefore);
    expect(restarts()).toBe(2);
    expect(fs.readFileSync(hostsToml, "utf8")).toBe(handWritten);
    expect(fs.readdirSync(cluster.hostsDir)).toEqual(["docker.io"]);
    expect(await objectsLeft(cluster)).toBe("");
  });
});
