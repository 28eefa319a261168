/**
 * The RegistryMirrors component on real lab nodes: its commands run over SSH through the test driver
 * (test/driver/engine.ts) with @pulumi/command's create/update/delete/replace semantics and a persistent state.
 * Nodes: containerd 1.6 root (node1), containerd 2.x root (node2), CRI-O-style (node3), containerd 1.6 as a
 * sudo user (node4).
 */
import * as path from "path";
import { startLab, type Lab } from "../lab";
import { ForkedDriver } from "../driver/forked";
import { labNode, upStack, type DriverNode } from "./support/component";
import type { Mirror, NodeReport } from "../../src";

type NodeSpec = DriverNode;

jest.setTimeout(300_000);

let lab: Lab;
const NODES = ["node1", "node2", "node3", "node4"];
const RUNTIME: Record<string, string> = { node1: "containerd", node2: "containerd", node3: "cri-o", node4: "auto" };

beforeAll(async () => {
  const started = Date.now();
  lab = await startLab({ nodes: 5 });
  console.log(`lab started in ${Date.now() - started} ms`);
});
afterAll(async () => {
  await lab?.upstreamUp();
  await lab?.stop();
});

const nodeArgs = (name: string, extra: Partial<NodeSpec> = {}) => labNode(lab, name, RUNTIME[name], extra);
const up = upStack;

function mirrorsFor(mirrorUrl: string): Mirror[] {
  return [
    { upstream: "docker.io", endpoints: [{ url: mirrorUrl }] },
    { upstream: "gcr.io", endpoints: [{ url: mirrorUrl }], fallback: false },
  ];
}

const sessions = () => Object.fromEntries(NODES.map((n) => [n, lab.sshSessionCount(n)]));
const restarts = () => Object.fromEntries(NODES.map((n) => [n, lab.restartCount(n)]));
const fileOn = (node: string, path: string) => lab.tryReadNodeFile(node, path);

describe("lifecycle on containerd 1.6, 2.x, CRI-O-style, root and sudo nodes", () => {
  const driver = new ForkedDriver();
  const before: Record<string, { config?: string }> = {};

  beforeAll(() => {
    for (const n of NODES) before[n] = { config: fileOn(n, "/etc/containerd/config.toml") };
  });

  it("first install configures every node, then pulls go through the mirror", async () => {
    const mirror = lab.registry("mirror").url;
    const { errors, reports } = await up(
      driver,
      mirrorsFor(mirror),
      NODES.map((n) => nodeArgs(n)),
    );
    expect(errors).toEqual([]);
    expect(reports!.node1).toMatchObject({ runtime: { kind: "containerd", version: "1.6.20" }, action: "restart", verification: "ok" });
    expect(reports!.node2).toMatchObject({ runtime: { kind: "containerd" }, action: "restart", verification: "ok" });
    expect(reports!.node2.runtime.version).toMatch(/^2\./);
    expect(reports!.node3).toMatchObject({ runtime: { kind: "cri-o" }, action: "reload", verification: "ok" });
    expect(reports!.node4).toMatchObject({ runtime: { kind: "containerd" }, verification: "ok" });

    await lab.upstreamDown();
    try {
      for (const n of ["node1", "node2", "node4"]) {
        const image = await lab.pushImage("library/probe");
        const pulled = await lab.criPull(n, image.ref);
        expect(pulled.repoDigest).toContain(image.digest);
        const served = lab.requestsFor("mirror", image.repo).filter((r) => r.path.includes("/manifests/"));
        expect(served.some((r) => r.params.ns === "docker.io")).toBe(true);
      }
      // gcr.io has fallback: false; with the upstream down only the mirror can serve it.
      const gcr = await lab.pushImage("team/probe", undefined, { registry: "gcr.io" });
      expect((await lab.criPull("node2", gcr.ref)).repoDigest).toContain(gcr.digest);
      expect(lab.requestsFor("mirror", gcr.repo).some((r) => r.params.ns === "gcr.io")).toBe(true);
      const crio = await lab.pushImage("library/probe");
      expect((await lab.criPull("node3", crio.ref)).repoDigest).toContain(crio.digest); // real CRI-O, over CRI
      expect(lab.requestsFor("mirror", crio.repo).length).toBeGreaterThan(0);
    } finally {
      await lab.upstreamUp();
    }
  });

  it("a second identical run opens no SSH session and restarts nothing", async () => {
    const s0 = sessions();
    const r0 = restarts();
    const { errors, executions } = await up(
      driver,
      mirrorsFor(lab.registry("mirror").url),
      NODES.map((n) => nodeArgs(n)),
    );
    expect(errors).toEqual([]);
    expect(executions).toEqual([]);
    expect(sessions()).toEqual(s0);
    expect(restarts()).toEqual(r0);
  });

  it("a mirrors-only change rewrites hosts.toml with no restart, in one session a node (the read is not run again)", async () => {
    const s0 = sessions();
    const r0 = restarts();
    const ns = lab.registry("ns-mirror").url;
    const { errors, reports } = await up(
      driver,
      mirrorsFor(ns),
      NODES.map((n) => nodeArgs(n)),
    );
    expect(errors).toEqual([]);
    expect(restarts()).toEqual(r0);
    // node4's runtime is `auto`: its main config may hold mirrors (Docker), so it is read again.
    expect(Object.fromEntries(NODES.map((n) => [n, lab.sshSessionCount(n) - s0[n]]))).toEqual({ node1: 1, node2: 1, node3: 1, node4: 2 });
    expect(reports!.node1.written).toEqual(["/etc/containerd/certs.d/docker.io/hosts.toml", "/etc/containerd/certs.d/gcr.io/hosts.toml"]);
    expect(fileOn("node1", "/etc/containerd/certs.d/docker.io/hosts.toml")).toContain("override_path = true");
    // The CRI-O node re-reads its registries on reload (not a restart).
    expect(reports!.node3.action).toBe("reload");
  });

  it("removal returns every node to its exact previous bytes", async () => {
    const { errors } = await driver.destroy();
    expect(errors).toEqual([]);
    for (const n of NODES) {
      expect(fileOn(n, "/etc/containerd/config.toml")).toBe(before[n].config);
      expect(lab.nodeFileExists(n, "/etc/containerd/certs.d/docker.io/hosts.toml")).toBe(false);
      expect(lab.nodeFileExists(n, "/var/lib/registry-mirrors")).toBe(false);
    }
    expect(lab.nodeFileExists("node3", "/etc/containers/registries.conf.d/99-registry-mirrors-docker.io.conf")).toBe(false);
    expect(await lab.criLoaded("node1")).toBe(true);
  });
});

describe("verify: always", () => {
  it("re-reads every node on every run and fails when a file drifted", async () => {
    const driver = new ForkedDriver();
    const mirrors = mirrorsFor(lab.registry("mirror").url);
    const nodes = [nodeArgs("node2")];
    expect((await up(driver, mirrors, nodes, { verify: "always" })).errors).toEqual([]);
    // The first re-read sees config.toml already right, so the apply's stdin (what depends on the read) changes
    // once and the apply runs again, writing nothing; from then on a run is the read alone.
    const settle = await up(driver, mirrors, nodes, { verify: "always" });
    expect(settle.errors).toEqual([]);
    expect((settle.value as Record<string, NodeReport>).node2.written).toEqual([]);
    const s0 = lab.sshSessionCount("node2");
    const again = await up(driver, mirrors, nodes, { verify: "always" });
    expect(again.errors).toEqual([]);
    // One session: the read. Nothing changed, so no apply.
    expect(lab.sshSessionCount("node2") - s0).toBe(1);
    await lab.nsExecOk("node2", "echo '# hand edit' >> /etc/containerd/certs.d/docker.io/hosts.toml");
    const drifted = await up(driver, mirrors, nodes, { verify: "always" });
    expect(drifted.message).toMatch(
      /node node2: step verify: files changed on the node since registry-mirrors wrote them:\n {2}\/etc\/containerd\/certs.d\/docker.io\/hosts.toml/,
    );
    await driver.destroy();
    // A file someone changed since it was written is not removed with its instance: it is left, no longer managed.
    expect(fileOn("node2", "/etc/containerd/certs.d/docker.io/hosts.toml")).toMatch(/# hand edit\n$/);
    expect(lab.nodeFileExists("node2", "/var/lib/registry-mirrors")).toBe(false);
    lab.removeNodePath("node2", "/etc/containerd/certs.d/docker.io");
  });
});

describe("faults", () => {
  const mirror = () => lab.registry("mirror").url;

  it("an unreachable node fails alone; the others complete", async () => {
    const driver = new ForkedDriver();
    const down: NodeSpec = {
      ...nodeArgs("node1"),
      name: "ghost",
      connection: {
        host: "127.0.0.1",
        port: 1,
        user: "root",
        privateKey: "x",
        hostKey: lab.node("node1").hostKey,
        dialErrorLimit: 1,
        perDialTimeout: 2,
      },
    };
    const { message } = await up(driver, mirrorsFor(mirror()), [down, nodeArgs("node2")]);
    expect(message).toMatch(/mirrors-ghost-read/);
    expect(fileOn("node2", "/etc/containerd/certs.d/docker.io/hosts.toml")).toContain(mirror());
    await driver.destroy();
  });

  it("a runtime that does not come back: rollback, runtime running on the old config, clear error", async () => {
    const driver = new ForkedDriver();
    const original = fileOn("node1", "/etc/containerd/config.toml");
    lab.failNextRestart("node1");
    const { message } = await up(driver, mirrorsFor(mirror()), [nodeArgs("node1")], { healthTimeoutSeconds: 5 });
    expect(message).toMatch(/node node1: step restart: containerd did not answer within 5 s after restart/);
    expect(message).toMatch(/previous files were restored and containerd is running again/);
    expect(fileOn("node1", "/etc/containerd/config.toml")).toBe(original);
    expect(lab.nodeFileExists("node1", "/etc/containerd/certs.d/docker.io/hosts.toml")).toBe(false);
    expect(await lab.runtimeState("node1")).toBe("active");
    // The next run converges.
    const again = await up(driver, mirrorsFor(mirror()), [nodeArgs("node1")]);
    expect(again.errors).toEqual([]);
    await driver.destroy();
    expect(fileOn("node1", "/etc/containerd/config.toml")).toBe(original);
  });

  it("config.toml changed behind our back between read and write: nothing written", async () => {
    const driver = new ForkedDriver();
    driver.hooks.beforeExec = async (resource, operation) => {
      if (resource.endsWith("-apply") && operation === "create") {
        await lab.nsExecOk("node2", "echo '# edited by a person' >> /etc/containerd/config.toml");
      }
    };
    const { message } = await up(driver, mirrorsFor(mirror()), [nodeArgs("node2")]);
    expect(message).toMatch(/node node2: step cas: \/etc\/containerd\/config.toml changed since it was read/);
    expect(lab.nodeFileExists("node2", "/etc/containerd/certs.d/docker.io")).toBe(false);
    expect(fileOn("node2", "/etc/containerd/config.toml")).toMatch(/# edited by a person\n$/);
    await driver.destroy();
  });

  it("a full disk on the node: nothing replaced, the error says so", async () => {
    const driver = new ForkedDriver();
    const original = fileOn("node1", "/etc/containerd/config.toml");
    // A tiny filesystem where the files go, filled up.
    await lab.nsExecOk(
      "node1",
      "mkdir -p /etc/containerd/certs.d && mount -t tmpfs -o size=64k tmpfs /etc/containerd/certs.d && (dd if=/dev/zero of=/etc/containerd/certs.d/fill bs=4k count=64 2>/dev/null || true)",
    );
    try {
      const { message } = await up(driver, mirrorsFor(mirror()), [nodeArgs("node1")]);
      expect(message).toMatch(/node node1: step stage: .*(disk full|cannot)/);
      expect(fileOn("node1", "/etc/containerd/config.toml")).toBe(original);
      expect((await lab.nsExecOk("node1", "ls -A /etc/containerd/certs.d")).trim()).toBe("fill");
    } finally {
      await lab.nsExecOk("node1", "umount /etc/containerd/certs.d");
    }
    await driver.destroy();
  });

  it("the connection cut in the middle of an apply: no half-written file, the next run converges", async () => {
    const driver = new ForkedDriver();
    driver.hooks.onSpawn = (resource, operation, kill) => {
      if (resource.endsWith("-apply") && operation === "create") setTimeout(kill, 150);
    };
    const first = await up(driver, mirrorsFor(mirror()), [nodeArgs("node2")]);
    expect(first.errors.length).toBeGreaterThan(0);
    // Whatever finished, nothing is half-written: no staged temp files are left.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await lab.nsExecOk("node2", "find /etc/containerd -name '*.rm-new' | wc -l")).trim()).toBe("0");
    driver.hooks = {};
    const second = await up(driver, mirrorsFor(mirror()), [nodeArgs("node2")]);
    expect(second.errors).toEqual([]);
    expect(second.reports!.node2.verification).toBe("ok");
    expect(await lab.criLoaded("node2")).toBe(true);
    await driver.destroy();
  });

  it("the connection cut in the middle of an apply with credentials: no file holding a secret is left but the 0600 hosts.toml", async () => {
    const auth = lab.registry("auth-mirror");
    const secrets = [auth.password!, Buffer.from(`${auth.username}:${auth.password}`).toString("base64")];
    const mirrors: Mirror[] = [
      ...mirrorsFor(mirror()),
      { upstream: "quay.io", endpoints: [{ url: auth.url, caCert: auth.caPem, auth: { username: auth.username!, password: auth.password! } }] },
    ];
    const driver = new ForkedDriver();
    driver.hooks.onSpawn = (resource, operation, kill) => {
      if (resource.endsWith("-apply") && operation === "create") setTimeout(kill, 100);
    };
    await up(driver, mirrors, [nodeArgs("node2")]);
    await new Promise((r) => setTimeout(r, 3000)); // the cut-off run finishes on its own
    // Everywhere on the node but the lab's own directory (which holds the lab registry's password for the tests).
    const labDir = path.basename(lab.describe().dir);
    const grep = `grep -rlF --exclude-dir=${labDir} ${secrets.map((x) => `-e '${x}'`).join(" ")} /etc /var/lib/registry-mirrors /tmp /root 2>/dev/null | xargs -r stat -c '%a %n'`;
    const holders = (await lab.nsExecOk("node2", `${grep}; true`))
      .trim()
      .split("\n")
      .filter((l) => l !== "");
    expect(holders.filter((l) => l !== "600 /etc/containerd/certs.d/quay.io/hosts.toml")).toEqual([]);
    driver.hooks = {};
    const second = await up(driver, mirrors, [nodeArgs("node2")]);
    expect(second.errors).toEqual([]);
    expect((await lab.nsExecOk("node2", `${grep}; true`)).trim()).toBe("600 /etc/containerd/certs.d/quay.io/hosts.toml");
    await driver.destroy();
    expect((await lab.nsExecOk("node2", `${grep}; true`)).trim()).toBe("");
  });

  it("a sudo that wants a password is a clear error, never a hang", async () => {
    const driver = new ForkedDriver();
    const started = Date.now();
    const { message } = await up(driver, mirrorsFor(mirror()), [nodeArgs("node5", { runtime: "containerd" })]);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(message).toMatch(/node node5: step sudo: user "lab" cannot run sudo without a password/);
  });
});
