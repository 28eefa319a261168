/**
 * The lab test of an example program in another Pulumi language (examples/yaml-nodes, examples/go-nodes), through
 * the real engine on two lab nodes: the program as its README sets it up (the package `pulumi-package/` named in
 * `packages:`, the language host beside the CLI, the component constructed by the package's provider plugin),
 * `pulumi preview --diff` showing each node's files (the same lines as the TypeScript component writes) before any
 * login, `pulumi up`, a pull served by the mirror while the upstream is down, a no-op `up` opening no SSH session,
 * the mirror password out of the state and every output, `pulumi destroy` restoring the nodes.
 */
import * as fs from "fs";
import * as path from "path";
import { startLab, type Lab, type LabDescription } from "../lab";
import { addNode, startCluster, type Cluster } from "../lab/cluster";
import type { Mirror } from "../../src";
import { parseRuntimeVersion } from "../../src/model/version";
import { BIN, linesMissingFromPreview, ProgramStack, requireTools, ROOT, usePackageProject } from "./stack";

/** One example program and how the lab's nodes become its config. */
export interface PackageExample {
  /** `yaml` or `go`: names the stack, the pushed image and the timings. */
  readonly language: string;
  /** The example's directory under the repository root. */
  readonly dir: string;
  /** The language host the engine needs beside the CLI. */
  readonly host: string;
  /** The Pulumi.yaml the stack runs, before the package path is made absolute. */
  readonly projectYaml: (stack: ProgramStack) => string;
  /** Its config (not secret) for the lab's two nodes. */
  readonly config: (d: LabDescription, lab: Lab) => Record<string, unknown>;
  /**
   * With a lab cluster whose Nodes `worker1` and `worker2` are the two lab nodes (InternalIP, runtime, the label
   * `registry-mirrors.lab/ssh=yes`), for programs that take their nodes from the cluster: the extra config.
   */
  readonly clusterConfig?: (cluster: Cluster) => Record<string, unknown>;
}

const NODES = ["node1", "node2"];

/**
 * The examples' mirrors as a TypeScript program gives them, for the lab: Docker Hub through the lab's mirror,
 * quay.io only through its private mirror (its CA, basic auth).
 */
export function exampleMirrors(lab: Lab): Mirror[] {
  const auth = lab.registry("auth-mirror");
  return [
    { upstream: "docker.io", endpoints: [{ url: lab.registry("mirror").url }] },
    {
      upstream: "quay.io",
      endpoints: [{ url: auth.url, caCert: auth.caPem, auth: { username: auth.username!, password: auth.password! } }],
      fallback: false,
    },
  ];
}

export function describePackageExample(example: PackageExample): void {
  describe(`${example.dir} through the real pulumi CLI and the registry-mirrors package`, () => {
    let lab: Lab;
    let cluster: Cluster | undefined;
    let stack: ProgramStack;
    let password = "";
    const before: Record<string, string | undefined> = {};
    const sessions = () => NODES.map((n) => lab.sshSessionCount(n));

    beforeAll(async () => {
      requireTools();
      if (!fs.existsSync(path.join(BIN, example.host))) throw new Error(`missing .tools/bin/${example.host}: run scripts/tools.sh`);
      lab = await startLab({ nodes: 2, waitForOtherLabMs: 900_000 });
      const d = lab.describe();
      for (const n of NODES) before[n] = lab.tryReadNodeFile(n, "/etc/containerd/config.toml");
      stack = new ProgramStack(`${example.language}${process.pid}`, { projectDir: path.join(ROOT, example.dir) });
      usePackageProject(stack, example.projectYaml(stack));
      let extra: Record<string, unknown> = {};
      if (example.clusterConfig) {
        cluster = await startCluster({ log: (l) => process.stderr.write(l + "\n") });
        for (const [i, n] of d.nodes.entries()) {
          const kind = n.runtime === "crio" ? "cri-o" : "containerd";
          await addNode(cluster, {
            name: `worker${i + 1}`,
            internalIP: n.host,
            containerRuntimeVersion: `${kind}://${parseRuntimeVersion(n.runtimeVersion).version}`,
            labels: { "registry-mirrors.lab/ssh": "yes" },
          });
        }
        extra = example.clusterConfig(cluster);
      }
      await stack.init();
      const auth = lab.registry("auth-mirror");
      password = auth.password!;
      await stack.configure(
        {
          dockerHubMirror: lab.registry("mirror").url,
          privateMirror: auth.url,
          privateMirrorCa: auth.caPem,
          privateMirrorUser: auth.username,
          sshUser: d.nodes[0].user,
          ...example.config(d, lab),
          ...extra,
        },
        { privateMirrorPassword: password, sshPrivateKey: fs.readFileSync(d.privateKeyPath, "utf8") },
      );
    }, 1_200_000);

    afterAll(async () => {
      await stack?.dispose();
      await cluster?.stop();
      await lab?.upstreamUp().catch(() => undefined);
      await lab?.stop();
    });

    test("preview --diff shows each node's files before any login, the same as the TypeScript component writes", async () => {
      const s0 = sessions();
      const r = await stack.run(["preview", "--diff", "--show-full-output"]);
      expect(r.out).toMatch(/mirrors-worker1-apply/);
      expect(r.out).toMatch(/certs\.d\/docker\.io\/hosts\.toml/);
      expect(linesMissingFromPreview(r.out, exampleMirrors(lab))).toEqual([]);
      expect(r.out).not.toContain(password);
      expect(sessions()).toEqual(s0);
    });

    test("up configures both machines; a pull goes through the mirror; a second up changes nothing and opens no SSH session; no secret in the state", async () => {
      const up = await stack.run(["up", "--yes", "--skip-preview"]);
      process.stdout.write(`TIMING ${example.language} example: first pulumi up (2 machines): ${up.ms} ms\n`);
      const reports = await stack.reports<Record<string, { verification: string }>>();
      expect(Object.keys(reports).sort()).toEqual(["worker1", "worker2"]);
      for (const r of Object.values(reports)) expect(r.verification).toBe("ok");
      const image = await lab.pushImage(`library/${example.language}-example`);
      await lab.upstreamDown();
      try {
        expect((await lab.criPull("node1", image.ref)).repoDigest).toContain(image.digest);
      } finally {
        await lab.upstreamUp();
      }
      const s0 = sessions();
      const noop = await stack.run(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
      process.stdout.write(`TIMING ${example.language} example: no-op pulumi up: ${noop.ms} ms\n`);
      expect(sessions()).toEqual(s0);
      const state = await stack.exportState();
      expect(state).not.toContain(password);
      expect(state).not.toContain("PRIVATE KEY");
      for (const out of stack.outputs) expect(out).not.toContain(password);
    });

    test("destroy restores the nodes", async () => {
      await stack.run(["destroy", "--yes", "--skip-preview"]);
      for (const n of NODES) {
        expect(lab.tryReadNodeFile(n, "/etc/containerd/config.toml")).toBe(before[n]);
        expect(lab.nodeFileExists(n, "/etc/containerd/certs.d/docker.io/hosts.toml")).toBe(false);
      }
    });
  });
}
