/**
 * A k3s-layout lab node beside a plain containerd node, through the real engine (pulumi CLI, language host,
 * pulumi-resource-command from the plugin cache) and the root program: `runtime: k3s` gets registries.yaml merged
 * with the installer's entries, k3s restarts and its containerd pulls through the mirror with the upstream down; a
 * mirrors-only change restarts k3s only; a second up changes nothing and opens no SSH session; destroy restores
 * registries.yaml byte for byte. (The stand-in and the driver-level cases: test/integration/k3s.test.ts.)
 */
import { startLab, type Lab } from "../lab";
import { labNodeConfig, ProgramStack, requireTools } from "./stack";

jest.setTimeout(600_000);

const K3S = "k3s1";
const PLAIN = "node1";
const REGISTRIES = "/etc/rancher/k3s/registries.yaml";
const GENERATED = "/var/lib/rancher/k3s/agent/etc/containerd/certs.d";
const THEIRS = `# written by the cluster's installer
mirrors:
  registry.corp:
    endpoint: ["https://registry.corp.mirror"]
`;

describe("k3s through the real engine", () => {
  let lab: Lab;
  let stack: ProgramStack;
  let nodes: Record<string, unknown>[];
  const configure = (url: string) => stack.configure({ mirrors: [{ upstream: "docker.io", endpoints: [{ url }] }], nodes, healthTimeoutSeconds: 15 });
  const restarts = () => ({ k3s: lab.restartCount(K3S), plain: lab.restartCount(PLAIN) });
  const sessions = () => ({ k3s: lab.sshSessionCount(K3S), plain: lab.sshSessionCount(PLAIN) });
  const pullsThrough = async (registry: "mirror" | "ns-mirror", name: string) => {
    const image = await lab.pushImage(name);
    await lab.upstreamDown();
    try {
      const from = lab.requestCount(registry);
      expect((await lab.criPull(K3S, image.ref)).repoDigest).toContain(image.digest);
      expect(lab.requestsFor(registry, image.repo, { from }).some((q) => q.status === 200 && q.path.includes("/manifests/"))).toBe(true);
    } finally {
      await lab.upstreamUp();
    }
  };

  beforeAll(async () => {
    requireTools();
    lab = await startLab({
      nodes: [
        { name: K3S, runtime: "k3s" },
        { name: PLAIN, runtime: "containerd" },
      ],
      waitForOtherLabMs: 900_000,
    });
    nodes = lab.describe().nodes.map((n) => labNodeConfig(n));
    lab.writeNodeFile(K3S, REGISTRIES, THEIRS);
    await lab.execOk(K3S, "systemctl restart k3s");
    stack = new ProgramStack(`k3s${process.pid}`);
    await stack.init();
  }, 1_200_000);

  afterAll(async () => {
    await stack?.dispose().catch(() => undefined);
    await lab?.upstreamUp().catch(() => undefined);
    await lab?.stop();
  });

  test("pulumi up: registries.yaml merged, k3s restarted, its containerd pulls through the mirror", async () => {
    const ns = lab.registry("ns-mirror");
    await configure(ns.url);
    const r0 = restarts();
    const r = await stack.run(["up", "--yes"]);
    expect(r.out).not.toMatch(/error:/);
    const reports = await stack.reports<Record<string, { runtime: { kind: string }; action: string; effective?: string }>>();
    expect(reports[K3S]).toMatchObject({ runtime: { kind: "k3s" }, action: "restart" });
    expect(reports[K3S].effective).toMatch(/^containerd reads \/var\/lib\/rancher\/k3s\//);
    expect(restarts()).toEqual({ k3s: r0.k3s + 1, plain: r0.plain + 1 });
    const yaml = lab.readNodeFile(K3S, REGISTRIES);
    expect(yaml).toContain("registry.corp.mirror");
    expect(yaml).toContain(ns.url);
    expect(lab.readNodeFile(K3S, `${GENERATED}/docker.io/hosts.toml`)).toContain(`[host."${ns.url}"]`);
    await pullsThrough("ns-mirror", "library/k3s-e2e");
  });

  test("a mirrors-only change restarts k3s and nothing else; the next up changes nothing and opens no SSH session", async () => {
    const plain = lab.registry("mirror");
    await configure(plain.url);
    const r0 = restarts();
    expect((await stack.run(["up", "--yes", "--skip-preview"])).out).not.toMatch(/error:/);
    expect(restarts()).toEqual({ k3s: r0.k3s + 1, plain: r0.plain });
    expect(lab.readNodeFile(K3S, REGISTRIES)).toContain("registry.corp.mirror");
    await pullsThrough("mirror", "library/k3s-e2e-changed");
    const s0 = sessions();
    const again = await stack.run(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
    expect(again.out).toMatch(/unchanged/);
    expect(sessions()).toEqual(s0);
    expect(restarts()).toEqual({ k3s: r0.k3s + 1, plain: r0.plain });
  });

  test("pulumi destroy restores registries.yaml byte for byte; k3s regenerates without our mirror", async () => {
    expect((await stack.run(["destroy", "--yes", "--skip-preview"])).out).not.toMatch(/error:/);
    expect(lab.readNodeFile(K3S, REGISTRIES)).toBe(THEIRS);
    expect(lab.nodeFileExists(K3S, `${GENERATED}/docker.io`)).toBe(false);
    expect(lab.nodeFileExists(K3S, `${GENERATED}/registry.corp/hosts.toml`)).toBe(true);
    expect(await lab.runtimeState(K3S)).toBe("active");
  });
});
