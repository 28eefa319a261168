/**
 * SSH trust through the real engine (the root program on lab nodes): a node without a pinned host key is refused
 * before anything is created; `insecureIgnoreHostKey` connects, warns on every run and says so in the report; during
 * an apply with credentials no process's command line or environment holds a secret and the node's state is root's
 * alone; an impostor sshd at a node's address (a fresh host key, the same authorized key) gets no session and the run
 * fails with both fingerprints.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { startLab, type Lab } from "../lab";
import { ThrowawaySshd } from "../lab/sshd";
import { fingerprint } from "../../src/component/host-key";
import { labNodeConfig, ProgramStack, requireTools } from "./stack";

jest.setTimeout(600_000);

interface Report {
  hostKey: string;
  warnings: string[];
  verification: string;
}

/**
 * Samples, until stopped, the command line of every process on the machine (what any user's `ps` shows) and the
 * environment of every process on the nodes (descendants of their sshd). Not the environment of the pulumi processes
 * on this machine: the language host hands the program its decrypted config in PULUMI_CONFIG, as Pulumi does
 * everywhere; that is the operator's machine, not a node.
 */
class ProcSampler {
  samples = 0;
  sawAgent = false;
  sawNodeEnv = false;
  readonly hits: string[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly secrets: string[],
    private readonly nodeSshdPids: number[],
  ) {
    this.loop = this.run();
  }

  private read(pid: string, file: string): string | undefined {
    try {
      return fs.readFileSync(`/proc/${pid}/${file}`, "latin1");
    } catch {
      return undefined; // gone, or a kernel thread
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      const pids = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p));
      const parent = new Map(pids.map((p) => [Number(p), Number(/\) \S+ (\d+)/.exec(this.read(p, "stat") ?? "")?.[1] ?? 0)]));
      const onNode = (pid: number): boolean => {
        for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++) if (this.nodeSshdPids.includes(p)) return true;
        return false;
      };
      for (const pid of pids) {
        const files = onNode(Number(pid)) ? ["cmdline", "environ"] : ["cmdline"];
        for (const file of files) {
          const text = this.read(pid, file);
          if (text === undefined) continue;
          if (file === "cmdline" && text.includes("RM-DONE")) this.sawAgent = true; // the node agent's own sh -c
          if (file === "environ" && text.length > 0) this.sawNodeEnv = true;
          for (const s of this.secrets) if (text.includes(s)) this.hits.push(`/proc/${pid}/${file}: ${text.replace(/\0/g, " ").slice(0, 200)}`);
        }
      }
      this.samples++;
      await new Promise((r) => setImmediate(r));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

describe("SSH trust through the real pulumi CLI", () => {
  let lab: Lab;
  let stack: ProgramStack;
  /** A machine that took a node's address: a fresh host key, and it accepts the lab's client key. */
  const impostorDir = fs.mkdtempSync(path.join(os.tmpdir(), "impostor-"));
  const impostor = new ThrowawaySshd(impostorDir);
  let node1: Record<string, unknown>;
  let node2: Record<string, unknown>;
  let mirrors: Record<string, unknown>[] = [];
  const secrets: Record<string, string> = {};
  const sessions = () => [lab.sshSessionCount("node1"), lab.sshSessionCount("node2")];

  beforeAll(async () => {
    requireTools();
    lab = await startLab({
      nodes: [
        { name: "node1", runtime: "containerd" },
        { name: "node2", runtime: "containerd" },
      ],
      waitForOtherLabMs: 900_000,
    });
    const d = lab.describe();
    node1 = labNodeConfig(d.nodes[0]);
    node2 = labNodeConfig(d.nodes[1]);
    await impostor.start({ authorizedKeys: execFileSync("ssh-keygen", ["-y", "-f", d.privateKeyPath], { encoding: "utf8" }) });
    mirrors = [{ upstream: "docker.io", endpoints: [{ url: lab.registry("mirror").url }] }];
    stack = new ProgramStack(`trust${process.pid}`);
    await stack.init();
  }, 1_200_000);

  afterAll(async () => {
    await stack?.dispose();
    await impostor.stop();
    fs.rmSync(impostorDir, { recursive: true, force: true });
    await lab?.stop();
  });

  test("a node without hostKey: the run stops before anything is created, naming the field and how to get the key", async () => {
    const { hostKey: _, ...unpinned } = node2;
    await stack.configure({ mirrors, nodes: [node1, unpinned] });
    const s0 = sessions();
    const r = await stack.run(["up", "--yes", "--skip-preview"], { expectFailure: true });
    expect(r.out).toContain('registry-mirrors:nodes[1].hostKey: is required: pin the SSH host key of node "node2"');
    expect(r.out).toContain(`ssh-keyscan -t ed25519 -p ${lab.node("node2").port} 127.0.0.1`);
    expect(r.out).toContain("nodes[1].insecureIgnoreHostKey: true");
    expect(sessions()).toEqual(s0);
    const resources: { type: string }[] = JSON.parse(await stack.exportState()).deployment.resources ?? [];
    expect(resources.filter((x) => x.type.startsWith("command:") || x.type.startsWith("registry-mirrors:"))).toEqual([]);
  });

  test("insecureIgnoreHostKey: true connects without checking, warns on preview and up, and the report says so", async () => {
    const { hostKey: _, ...unpinned } = node2;
    await stack.configure({ mirrors, nodes: [node1, { ...unpinned, insecureIgnoreHostKey: true }] });
    const warning = "node node2: insecureIgnoreHostKey is set: its SSH host key is not checked";
    expect((await stack.run(["preview"])).out).toContain(warning);
    const up = await stack.run(["up", "--yes", "--skip-preview"]);
    expect(up.out).toContain(warning);
    const reports = await stack.reports<Record<string, Report>>();
    expect(reports.node1).toMatchObject({ hostKey: "pinned", verification: "ok" });
    expect(reports.node2).toMatchObject({ hostKey: "not checked", verification: "ok" });
    expect(reports.node2.warnings[0]).toContain("insecureIgnoreHostKey");
    expect(fs.existsSync(path.join(stack.dir, "state"))).toBe(true);
  });

  test("an apply with credentials: no secret in any process's command line or environment; the node's state is root's alone", async () => {
    const auth = lab.registry("auth-mirror");
    mirrors = [...mirrors, { upstream: "quay.io", endpoints: [{ url: auth.url, caCert: auth.caPem, auth: { username: auth.username } }] }];
    secrets["mirrors[1].endpoints[0].auth.password"] = auth.password!;
    await stack.configure({ mirrors, nodes: [node1, node2] }, secrets);
    const sampler = new ProcSampler(
      [auth.password!, Buffer.from(`${auth.username}:${auth.password}`).toString("base64")],
      lab.describe().nodes.map((n) => n.sshdPid),
    );
    try {
      await stack.run(["up", "--yes", "--skip-preview"]);
    } finally {
      await sampler.stop();
    }
    process.stdout.write(`SAMPLER ${sampler.samples} samples of every process's cmdline and environ during the apply\n`);
    expect(sampler.sawAgent).toBe(true); // the sampling overlapped the node agent's run
    expect(sampler.sawNodeEnv).toBe(true); // and read the environment of processes on the nodes
    expect(sampler.hits).toEqual([]);
    expect(lab.tryReadNodeFile("node1", "/etc/containerd/certs.d/quay.io/hosts.toml")).toContain(
      Buffer.from(`${auth.username}:${auth.password}`).toString("base64"),
    );
    const modes = await lab.nsExecOk(
      "node1",
      "stat -c '%a %n' /var/lib/registry-mirrors /var/lib/registry-mirrors/backup /var/lib/registry-mirrors/manifest /etc/containerd/certs.d/quay.io/hosts.toml",
    );
    expect(modes.trim().split("\n")).toEqual([
      "700 /var/lib/registry-mirrors",
      "700 /var/lib/registry-mirrors/backup",
      "600 /var/lib/registry-mirrors/manifest",
      "600 /etc/containerd/certs.d/quay.io/hosts.toml",
    ]);
    expect(
      (await lab.nsExecOk("node1", "ls /var/lib/registry-mirrors"))
        .trim()
        .split("\n")
        .filter((f) => f.startsWith("run.")),
    ).toEqual([]);
  });

  test("an impostor at a node's address (another host key, the same authorized key) gets no session: the run fails with both fingerprints", async () => {
    // Control: the impostor would let our key in — only the host key stands between it and the credentials.
    execFileSync("ssh", [
      "-T",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "LogLevel=ERROR",
      "-i",
      lab.describe().privateKeyPath,
      "-p",
      String(impostor.port),
      "root@127.0.0.1",
      "true",
    ]);
    expect(impostor.count(/Accepted publickey/)).toBe(1);
    const accepted = impostor.count(/Accepted publickey/);
    const started = impostor.count(/Starting session/);
    const quayBefore = lab.tryReadNodeFile("node1", "/etc/containerd/certs.d/quay.io/hosts.toml");

    // The stack still pins node1's key; its address now answers with the impostor's.
    mirrors = [mirrors[0], { ...mirrors[1], fallback: false }];
    await stack.configure({ mirrors, nodes: [{ ...node1, port: impostor.port }, node2] }, secrets);
    const r = await stack.run(["up", "--yes", "--skip-preview"], { expectFailure: true });
    expect(r.out).toContain(
      `registry-mirrors: node node1: step host-key: the SSH host key at 127.0.0.1:${impostor.port} changed: ` +
        `pinned ${fingerprint(String(node1.hostKey))} (ssh-ed25519), the node presents ${fingerprint(impostor.hostKey)}. Nothing was sent to it.`,
    );
    expect(impostor.count(/Accepted publickey/)).toBe(accepted);
    expect(impostor.count(/Starting session/)).toBe(started);
    expect(lab.tryReadNodeFile("node1", "/etc/containerd/certs.d/quay.io/hosts.toml")).toBe(quayBefore);
    // Back at the real address, the stack converges.
    await stack.configure({ mirrors, nodes: [node1, node2] }, secrets);
    const again = await stack.run(["up", "--yes", "--skip-preview"]);
    expect(again.out).not.toMatch(/error:/);
  });

  test("a node re-provisioned with a new host key at the same address: the next change stops there with both fingerprints; pinning the new key goes on", async () => {
    const n = lab.node("node2");
    const keyFile = path.join(n.dir, "ssh_host_ed25519_key");
    const oldKey = String(node2.hostKey);
    fs.rmSync(keyFile);
    fs.rmSync(`${keyFile}.pub`);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile]);
    const newKey = fs.readFileSync(`${keyFile}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    process.kill(n.sshdPid, "SIGHUP"); // sshd re-executes itself (same pid, same namespace) and loads the new key
    const end = Date.now() + 10_000;
    const scan = () => execFileSync("sh", ["-c", `ssh-keyscan -t ed25519 -p ${n.port} 127.0.0.1 2>/dev/null || true`], { encoding: "utf8" });
    while (!scan().includes(newKey.split(" ")[1])) {
      if (Date.now() > end) throw new Error("node2's sshd did not pick up its new host key");
      await new Promise((r) => setTimeout(r, 100));
    }
    const s0 = lab.sshSessionCount("node2");
    mirrors = [mirrors[0], { ...mirrors[1], fallback: true }];
    await stack.configure({ mirrors, nodes: [node1, node2] }, secrets);
    const r = await stack.run(["up", "--yes", "--skip-preview"], { expectFailure: true });
    expect(r.out).toContain(
      `registry-mirrors: node node2: step host-key: the SSH host key at 127.0.0.1:${n.port} changed: pinned ${fingerprint(oldKey)} (ssh-ed25519), the node presents ${fingerprint(newKey)}.`,
    );
    expect(lab.sshSessionCount("node2")).toBe(s0);
    node2 = { ...node2, hostKey: newKey };
    await stack.configure({ mirrors, nodes: [node1, node2] }, secrets);
    const pinned = await stack.run(["up", "--yes", "--skip-preview"]);
    expect(pinned.out).not.toMatch(/error:/);
    expect(lab.sshSessionCount("node2")).toBeGreaterThan(s0);
  });
});
