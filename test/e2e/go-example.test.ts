/**
 * examples/go-nodes through the real engine on lab nodes: the Go program as its README sets it up (the SDK that
 * `pulumi package add ../../pulumi-package` generated in sdks/, the package named in `packages:`, the real Go and
 * Node.js language hosts, the component constructed by the package's provider plugin), `pulumi preview --diff` showing each node's files, `pulumi up`, a pull served by the
 * mirror while the upstream is down, a no-op `up` opening no SSH session, the mirror password out of the state,
 * `pulumi destroy` restoring the nodes.
 */
import * as fs from "fs";
import * as path from "path";
import { startLab, type Lab } from "../lab";
import { BIN, ProgramStack, requireTools, ROOT } from "./stack";

jest.setTimeout(600_000);

const EXAMPLE = path.join(ROOT, "examples/go-nodes");

describe("examples/go-nodes through the real pulumi CLI and the registry-mirrors package", () => {
  let lab: Lab;
  let stack: ProgramStack;
  let password = "";
  const before: Record<string, string | undefined> = {};

  beforeAll(async () => {
    requireTools();
    if (!fs.existsSync(path.join(BIN, "pulumi-language-go"))) throw new Error("missing .tools/bin/pulumi-language-go: run scripts/tools.sh");
    lab = await startLab({ nodes: 2, waitForOtherLabMs: 900_000 });
    const d = lab.describe();
    for (const n of ["node1", "node2"]) before[n] = lab.tryReadNodeFile(n, "/etc/containerd/config.toml");
    stack = new ProgramStack(`go${process.pid}`, { projectDir: EXAMPLE });
    // The program in the example's directory (main:), the package at its absolute path from the stack's Pulumi.yaml.
    const yaml = fs.readFileSync(path.join(stack.project, "Pulumi.yaml"), "utf8");
    expect(yaml).toContain("registry-mirrors: ../../pulumi-package");
    fs.writeFileSync(path.join(stack.project, "Pulumi.yaml"), yaml.replace("../../pulumi-package", path.join(ROOT, "pulumi-package")));
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
        machines: d.nodes.map((n, i) => ({
          name: `worker${i + 1}`,
          host: n.host,
          port: n.port,
          hostKey: n.hostKey,
          runtime: n.runtime === "crio" ? "cri-o" : "containerd",
        })),
      },
      { privateMirrorPassword: password, sshPrivateKey: fs.readFileSync(d.privateKeyPath, "utf8") },
    );
  }, 1_200_000);

  afterAll(async () => {
    await stack?.dispose();
    await lab?.upstreamUp().catch(() => undefined);
    await lab?.stop();
  });

  test("preview --diff shows each node's files before any login", async () => {
    const sessions = ["node1", "node2"].map((n) => lab.sshSessionCount(n));
    const r = await stack.run(["preview", "--diff", "--show-full-output"]);
    expect(r.out).toMatch(/mirrors-worker1-apply/);
    expect(r.out).toMatch(/certs\.d\/docker\.io\/hosts\.toml/);
    expect(r.out).toContain(lab.registry("mirror").url);
    expect(r.out).not.toContain(password);
    expect(["node1", "node2"].map((n) => lab.sshSessionCount(n))).toEqual(sessions);
  });

  test("up configures both machines; a pull goes through the mirror; a second up changes nothing and opens no SSH session; no secret in the state", async () => {
    const up = await stack.run(["up", "--yes", "--skip-preview"]);
    process.stdout.write(`TIMING go example: first pulumi up (2 machines): ${up.ms} ms\n`);
    const reports = await stack.reports<Record<string, { verification: string }>>();
    expect(Object.keys(reports).sort()).toEqual(["worker1", "worker2"]);
    for (const r of Object.values(reports)) expect(r.verification).toBe("ok");
    const image = await lab.pushImage("library/go-example");
    await lab.upstreamDown();
    try {
      expect((await lab.criPull("node1", image.ref)).repoDigest).toContain(image.digest);
    } finally {
      await lab.upstreamUp();
    }
    const sessions = ["node1", "node2"].map((n) => lab.sshSessionCount(n));
    const noop = await stack.run(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
    process.stdout.write(`TIMING go example: no-op pulumi up: ${noop.ms} ms\n`);
    expect(["node1", "node2"].map((n) => lab.sshSessionCount(n))).toEqual(sessions);
    const state = await stack.exportState();
    expect(state).not.toContain(password);
    expect(state).not.toContain("PRIVATE KEY");
    for (const out of stack.outputs) expect(out).not.toContain(password);
  });

  test("destroy restores the nodes", async () => {
    await stack.run(["destroy", "--yes", "--skip-preview"]);
    for (const n of ["node1", "node2"]) {
      expect(lab.tryReadNodeFile(n, "/etc/containerd/config.toml")).toBe(before[n]);
      expect(lab.nodeFileExists(n, "/etc/containerd/certs.d/docker.io/hosts.toml")).toBe(false);
    }
  });
});
