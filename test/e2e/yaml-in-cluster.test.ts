/**
 * examples/yaml-in-cluster through the real engine, the YAML language host, the registry-mirrors package's provider
 * plugin and the real pulumi-resource-kubernetes 4.25.0, on the lab cluster (see in-cluster-lab.ts): the program
 * unchanged, the kubelet node's settings as its config. A preview shows every non-secret file the TypeScript
 * component writes; `up` rolls the DaemonSet and a pull is served by the mirror; a second `up` changes nothing; the
 * mirror password stays in the cluster's Secret; `destroy` gives the node its hand-written file back.
 */
import * as fs from "fs";
import * as path from "path";
import { exampleMirrors } from "./package-example";
import { crictlPull, objectsLeft, startInClusterLab, type InClusterLab } from "./in-cluster-lab";
import { BIN, linesMissingFromPreview, ProgramStack, ROOT, usePackageProject } from "./stack";

jest.setTimeout(600_000);

const EXAMPLE = path.join(ROOT, "examples/yaml-in-cluster");

describe("examples/yaml-in-cluster through the real pulumi CLI, the registry-mirrors package and pulumi-resource-kubernetes", () => {
  let env: InClusterLab;
  let stack: ProgramStack;
  let password = "";

  beforeAll(async () => {
    if (!fs.existsSync(path.join(BIN, "pulumi-language-yaml"))) throw new Error("missing .tools/bin/pulumi-language-yaml: run scripts/tools.sh");
    env = await startInClusterLab();
    const { lab, cluster, settings } = env;
    stack = new ProgramStack(`yamlincluster${process.pid}`, { projectDir: EXAMPLE });
    // The YAML program is its Pulumi.yaml.
    usePackageProject(stack, fs.readFileSync(path.join(EXAMPLE, "Pulumi.yaml"), "utf8"));
    await stack.init();
    const auth = lab.registry("auth-mirror");
    password = auth.password!;
    await stack.configure(
      {
        kubeconfig: cluster.kubeconfig,
        dockerHubMirror: lab.registry("mirror").url,
        privateMirror: auth.url,
        privateMirrorCa: auth.caPem,
        privateMirrorUser: auth.username,
        hostsDir: settings.paths.hostsDir,
        stateDir: settings.stateDir,
        criSocket: settings.criSocket,
        crictl: settings.crictl,
        nodeAgentImage: settings.image,
        nodeAgentImagePullPolicy: settings.imagePullPolicy,
      },
      { privateMirrorPassword: password },
    );
  }, 1_200_000);

  afterAll(async () => {
    await stack?.dispose().catch(() => undefined);
    await env?.stop();
  });

  test("preview --diff shows the files the TypeScript component writes, and no password, before anything exists", async () => {
    const { lab, hostsToml, handWritten, settings } = env;
    const r = await stack.run(["preview", "--diff", "--show-full-output"]);
    expect(r.out).toMatch(/registry-mirrors:index:RegistryMirrorsInCluster/);
    expect(r.out).toMatch(/kubernetes:apps\/v1:DaemonSet/);
    expect(linesMissingFromPreview(r.out, exampleMirrors(lab), settings.paths.hostsDir)).toEqual([]);
    expect(r.out).not.toContain(password);
    expect(fs.readFileSync(hostsToml, "utf8")).toBe(handWritten);
  });

  test("up rolls the DaemonSet, a pull is served by the mirror, a second up changes nothing; the password only in the cluster's Secret", async () => {
    const { lab, cluster, hostsToml } = env;
    const up = await stack.run(["up", "--yes", "--skip-preview"]);
    process.stdout.write(`TIMING yaml in-cluster example: first pulumi up (1 node): ${up.ms} ms\n`);
    expect(up.out).toMatch(/mirrors-rollout\s+created/);
    const rollout = JSON.parse((await stack.run(["stack", "output", "rollout", "--json"])).stdout) as {
      mode: string;
      nodes: { node: string; ready: boolean; log?: string[] }[];
    };
    expect(rollout.mode).toBe("apply");
    expect(rollout.nodes.map((n) => [n.node, n.ready])).toEqual([["127.0.0.1", true]]);
    expect(rollout.nodes[0].log?.join("\n")).toMatch(/RM-EFFECTIVE containerd reads /);
    expect(fs.readFileSync(hostsToml, "utf8")).toContain(`[host."${lab.registry("mirror").url}"]`);
    const auth = lab.registry("auth-mirror");
    expect(fs.readFileSync(path.join(cluster.hostsDir, "quay.io", "hosts.toml"), "utf8")).toContain(
      Buffer.from(`${auth.username}:${password}`).toString("base64"),
    );

    const img = await lab.pushImage("library/yaml-in-cluster");
    const before = lab.requestsFor("mirror", img.repo).length;
    const pull = await crictlPull(cluster, img.ref);
    expect(pull.out).toMatch(/Image is up to date/);
    expect(lab.requestsFor("mirror", img.repo).length).toBeGreaterThan(before);

    const noop = await stack.run(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
    process.stdout.write(`TIMING yaml in-cluster example: no-op pulumi up: ${noop.ms} ms\n`);
    expect(await stack.exportState()).not.toContain(password);
    const base64 = Buffer.from(`${auth.username}:${password}`).toString("base64");
    const objects = await cluster.kubectlOk([
      "get",
      "daemonsets,configmaps",
      "-n",
      "kube-system",
      "-l",
      "registry-mirrors.io/instance",
      "-o",
      "yaml",
    ]);
    expect(objects).not.toContain(password);
    expect(objects).not.toContain(base64);
    for (const out of stack.outputs) expect(out).not.toContain(password);
  });

  test("destroy gives the node its hand-written file back and leaves no object", async () => {
    const { cluster, hostsToml, handWritten } = env;
    await stack.run(["destroy", "--yes", "--skip-preview"]);
    expect(fs.readFileSync(hostsToml, "utf8")).toBe(handWritten);
    expect(fs.readdirSync(cluster.hostsDir)).toEqual(["docker.io"]);
    expect(await objectsLeft(cluster)).toBe("");
  });
});
