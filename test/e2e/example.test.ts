/**
 * examples/ssh-nodes with the real engine on lab nodes: the stack exactly as its README sets it up (the package
 * built and linked as `npm install` links file:../.., one key from secret config, host keys pinned, machines from
 * structured config), `pulumi up`, a pull through the mirror, a no-op `up`, a machine without a pinned host key
 * refused, `pulumi destroy` restoring config.toml.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { startLab, type Lab } from "../lab";
import { ProgramStack, requireTools, ROOT } from "./stack";

jest.setTimeout(300_000);

const EXAMPLE = path.join(ROOT, "examples/ssh-nodes");

/**
 * The example's `registry-mirrors` as its README sets it up: the package built (`npm run build`) and
 * node_modules/registry-mirrors a link to this repository, which is what `npm install` makes of "file:../..".
 */
function installPackage(): void {
  execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "pipe" });
  const link = path.join(EXAMPLE, "node_modules/registry-mirrors");
  // A link, or the directory earlier checkouts kept there: replaced either way (fs.rmSync never follows a link).
  fs.rmSync(link, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(path.relative(path.dirname(link), ROOT), link);
}

describe("examples/ssh-nodes through the real pulumi CLI", () => {
  let lab: Lab;
  let stack: ProgramStack;
  let machines: Record<string, unknown>[] = [];
  let config: Record<string, unknown> = {};
  let secrets: Record<string, string> = {};
  let before: string | undefined;

  beforeAll(async () => {
    requireTools();
    installPackage();
    lab = await startLab({ nodes: 3, waitForOtherLabMs: 900_000 });
    const d = lab.describe();
    machines = d.nodes.map((n) => ({
      name: n.name,
      host: n.host,
      port: n.port,
      hostKey: n.hostKey,
      runtime: n.runtime === "crio" ? "cri-o" : "containerd",
    }));
    before = lab.tryReadNodeFile("node2", "/etc/containerd/config.toml");
    stack = new ProgramStack(`example${process.pid}`, { projectDir: EXAMPLE });
    await stack.init();
    config = { machines, dockerHubMirror: lab.registry("mirror").url, gcrMirror: lab.registry("mirror").url };
    secrets = { sshPrivateKey: fs.readFileSync(d.privateKeyPath, "utf8") };
    await stack.configure(config, secrets);
  }, 1_200_000);

  afterAll(async () => {
    await stack?.dispose();
    await lab?.upstreamUp().catch(() => undefined);
    await lab?.stop();
  });

  test("up configures every machine; a pull goes through the mirror; a second up changes nothing and opens no SSH session", async () => {
    const up = await stack.run(["up", "--yes", "--skip-preview"]);
    process.stdout.write(`TIMING example: first pulumi up (3 machines): ${up.ms} ms\n`);
    const reports = await stack.reports<Record<string, { action: string; verification: string }>>();
    expect(Object.keys(reports).sort()).toEqual(["node1", "node2", "node3"]);
    for (const r of Object.values(reports)) expect(r.verification).toBe("ok");
    const image = await lab.pushImage("library/example");
    await lab.upstreamDown();
    try {
      expect((await lab.criPull("node2", image.ref)).repoDigest).toContain(image.digest);
      expect((await lab.skopeoInspect("node3", image.ref)).Digest).toBe(image.digest);
    } finally {
      await lab.upstreamUp();
    }
    const sessions = ["node1", "node2", "node3"].map((n) => lab.sshSessionCount(n));
    const noop = await stack.run(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
    process.stdout.write(`TIMING example: no-op pulumi up: ${noop.ms} ms\n`);
    expect(["node1", "node2", "node3"].map((n) => lab.sshSessionCount(n))).toEqual(sessions);
    const state = await stack.exportState();
    expect(state).not.toContain("PRIVATE KEY");
  });

  test("a machine without a pinned host key is refused before anything runs", async () => {
    await stack.configure({ ...config, machines: [...machines, { name: "nokey", host: "127.0.0.1", port: 1 }] }, secrets);
    const r = await stack.run(["preview"], { expectFailure: true });
    expect(r.out).toMatch(/machines without a pinned hostKey: nokey/);
    await stack.configure(config, secrets);
  });

  test("a bastion without a pinned host key is refused before anything runs, by the component", async () => {
    const s0 = ["node1", "node2", "node3"].map((n) => lab.sshSessionCount(n));
    await stack.configure({ ...config, bastion: { host: "127.0.0.1", port: lab.node("node1").port } }, secrets);
    const r = await stack.run(["preview"], { expectFailure: true });
    expect(r.out).toMatch(/nodes\[0\]\.connection\.proxy\.hostKey: is required: pin the SSH host key of the bastion of node "node1"/);
    expect(["node1", "node2", "node3"].map((n) => lab.sshSessionCount(n))).toEqual(s0);
    await stack.configure(config, secrets);
  });

  test("destroy restores config.toml", async () => {
    await stack.run(["destroy", "--yes", "--skip-preview"]);
    expect(lab.tryReadNodeFile("node2", "/etc/containerd/config.toml")).toBe(before);
    expect(lab.nodeFileExists("node3", "/etc/containers/registries.conf.d/99-registry-mirrors-docker.io.conf")).toBe(false);
  });
});
