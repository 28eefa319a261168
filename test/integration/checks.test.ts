/**
 * Proof on real lab nodes (containerd 1.6, containerd 2.x, the CRI-O-style node), through the test driver with
 * @pulumi/command's semantics: the probe from the node before anything is written (a refused port, a CA the node
 * does not trust, wrong credentials, `probe: "warn"`), the running containerd's own view (a config.toml it does not
 * use), and the proof pull through the mirrors alone (with the upstream down; an image the mirror does not have).
 */
import { execFileSync } from "child_process";
import { createServer } from "net";
import { startLab, type Lab } from "../lab";
import { ForkedDriver } from "../driver/forked";
import { labNode, upStack, type DriverNode } from "./support/component";
import type { Mirror } from "../../src";

type NodeSpec = DriverNode;

jest.setTimeout(300_000);

let lab: Lab;
const NODES = ["node1", "node2", "node3"];
const RUNTIME: Record<string, string> = { node1: "containerd", node2: "containerd", node3: "cri-o" };
const CONFIG = "/etc/containerd/config.toml";
/** The files a node's configuration consists of, as they are now. */
const snapshot = (node: string) => ({
  config: lab.tryReadNodeFile(node, CONFIG),
  hostsDir: lab.nodeFileExists(node, "/etc/containerd/certs.d/docker.io"),
  dropIn: lab.nodeFileExists(node, "/etc/containers/registries.conf.d/99-registry-mirrors-docker.io.conf"),
  manifest: lab.tryReadNodeFile(node, "/var/lib/registry-mirrors/manifest"),
});

let refusedPort = 0;

beforeAll(async () => {
  lab = await startLab({ nodes: 3 });
  // A port that was just free on 127.0.0.1: nothing listens there.
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  refusedPort = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
});
afterAll(async () => {
  await lab?.upstreamUp();
  await lab?.stop();
});

const nodeArgs = (name: string, extra: Partial<NodeSpec> = {}) => labNode(lab, name, RUNTIME[name], extra);
const up = upStack;

const dockerHub = (...endpoints: Mirror["endpoints"]): Mirror[] => [{ upstream: "docker.io", endpoints }];

describe("before anything is written: the probe from each node", () => {
  it("a refused port, an untrusted CA and wrong credentials each fail the nodes they reach with the reason, and the rollout stops; no node changes", async () => {
    const before = Object.fromEntries(NODES.map((n) => [n, snapshot(n)]));
    const auth = lab.registry("auth-mirror");
    const cases: [Mirror[], RegExp][] = [
      [dockerHub({ url: `http://127.0.0.1:${refusedPort}` }), /connection refused/],
      [
        dockerHub({ url: auth.url, auth: { username: auth.username!, password: auth.password! } }),
        /TLS failed: the node does not trust the mirror's certificate.*set caCert/,
      ],
      [
        dockerHub({ url: auth.url, caCert: auth.caPem, auth: { username: auth.username!, password: "wrong" } }),
        /check auth\.username and auth\.password/,
      ],
    ];
    for (const [mirrors, reason] of cases) {
      const driver = new ForkedDriver();
      const { message } = await up(
        driver,
        mirrors,
        NODES.map((n) => nodeArgs(n)),
      );
      // node2 restarts after node1 (maxParallelRestarts 1): with node1 failed, the rollout stops before it.
      for (const n of ["node1", "node3"]) {
        expect(message).toMatch(new RegExp(`node ${n}: step probe: mirror endpoints do not answer from this node.*nothing was written`, "s"));
      }
      expect(message).not.toMatch(/node node2: step/);
      for (const n of NODES) expect(snapshot(n)).toEqual(before[n]);
      expect(message).toMatch(reason);
      await driver.destroy();
    }
  });

  it('probe: "warn" lets a dead first endpoint of a mirror with fallback through as a warning; the next one serves', async () => {
    const driver = new ForkedDriver();
    const mirrors = dockerHub({ url: `http://127.0.0.1:${refusedPort}` }, { url: lab.registry("mirror").url });
    const { errors, reports } = await up(driver, mirrors, [nodeArgs("node2")], { probe: "warn" });
    expect(errors).toEqual([]);
    expect(reports!.node2.probes.map((p) => p.result)).toEqual(["warn", "ok"]);
    expect(reports!.node2.warnings.join("\n")).toMatch(new RegExp(`mirror http://127.0.0.1:${refusedPort} does not answer from this node`));
    await driver.destroy();
  });

  it("credentials never appear in a process listing while the probes run (ps sampled on the machine the nodes share)", async () => {
    const auth = lab.registry("auth-mirror");
    const driver = new ForkedDriver();
    const listings: string[] = [];
    let done = false;
    const sample = (async () => {
      while (!done) {
        listings.push(execFileSync("ps", ["-eww", "-o", "args"], { encoding: "utf8" }));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const mirrors = dockerHub({ url: auth.url, caCert: auth.caPem, auth: { username: auth.username!, password: auth.password! } });
    const result = await up(
      driver,
      mirrors,
      NODES.map((n) => nodeArgs(n)),
    );
    done = true;
    await sample;
    expect(result.errors).toEqual([]);
    for (const n of NODES) expect(result.reports![n].probes[0]).toMatchObject({ endpoint: auth.url, result: "ok" });
    expect(listings.length).toBeGreaterThan(10);
    expect(listings.filter((l) => l.includes(auth.password!))).toEqual([]);
    await driver.destroy();
  });
});

describe("after the apply: the runtime's own view and the proof pull", () => {
  it("a proof pull succeeds with the upstream down on containerd 1.6, 2.x and CRI-O, reporting the digest and the mirror", async () => {
    const image = await lab.pushImage("library/proof");
    const mirror = lab.registry("mirror").url;
    const driver = new ForkedDriver();
    await lab.upstreamDown();
    try {
      const { errors, reports } = await up(
        driver,
        dockerHub({ url: mirror }),
        NODES.map((n) => nodeArgs(n)),
        { verify: { pull: image.ref } },
      );
      expect(errors).toEqual([]);
      for (const n of NODES) {
        expect(reports![n].proof).toEqual({ image: image.ref, digest: image.digest, servedBy: mirror });
        expect(reports![n].probes.map((p) => p.result)).toEqual(["ok"]);
      }
      expect(reports!.node1.effective).toMatch(/^containerd reads \/etc\/containerd\/certs\.d: a CRI pull of a canary host/);
      expect(reports!.node2.effective).toMatch(/^containerd reads \/etc\/containerd\/certs\.d/);
      expect(reports!.node3.effective).toMatch(/^cri-o reads \/etc\/containers\/registries\.conf\.d: after a reload/);
      expect(lab.requestsFor("mirror", image.repo).filter((r) => r.path.includes("/manifests/")).length).toBeGreaterThanOrEqual(3);
      // What the proof pulled is gone again: no image, no namespace left on the containerd nodes.
      for (const n of ["node1", "node2"]) expect(await lab.nsExecOk(n, "ctr namespaces ls -q")).not.toContain("registry-mirrors-proof");
    } finally {
      await lab.upstreamUp();
    }
    await driver.destroy();
  });

  it("an image the mirror does not have fails the proof and puts each node back on its previous configuration", async () => {
    const before = Object.fromEntries(NODES.map((n) => [n, snapshot(n)]));
    const driver = new ForkedDriver();
    await lab.upstreamDown();
    try {
      const { message } = await up(
        driver,
        dockerHub({ url: lab.registry("mirror").url }),
        NODES.map((n) => nodeArgs(n)),
        {
          verify: { pull: "docker.io/library/never-pushed:1" },
        },
      );
      for (const n of ["node1", "node3"]) {
        expect(message).toMatch(
          new RegExp(
            `node ${n}: step proof: no mirror endpoint served docker.io/library/never-pushed:1.*Rolled back: the previous files were restored`,
            "s",
          ),
        );
      }
      // The staged rollout stops at the failed node: node2, next to restart, is never changed.
      expect(message).not.toMatch(/node node2: step/);
      for (const n of NODES) expect(snapshot(n)).toEqual(before[n]);
      expect(await lab.runtimeState("node1")).toBe("active");
      // Nothing of the failed proof stays: no namespace of it on node1.
      expect(await lab.nsExecOk("node1", "ctr namespaces ls -q")).not.toContain("registry-mirrors-proof");
    } finally {
      await lab.upstreamUp();
    }
    await driver.destroy();
  });

  it("a containerd that runs with another config.toml than the one edited is caught and rolled back", async () => {
    const before = snapshot("node1");
    const driver = new ForkedDriver();
    const { message } = await up(driver, dockerHub({ url: lab.registry("mirror").url }), [
      nodeArgs("node1", { paths: { containerdConfig: "/etc/containerd/not-the-one-in-use.toml" } }),
    ]);
    expect(message).toMatch(
      /node node1: step effective: containerd does not read the hosts directory registry-mirrors wrote \(\/etc\/containerd\/certs\.d\)/,
    );
    expect(message).toMatch(/set paths\.containerdConfig to the file it uses/);
    expect(lab.nodeFileExists("node1", "/etc/containerd/not-the-one-in-use.toml")).toBe(false);
    expect(snapshot("node1")).toEqual(before);
    expect(await lab.runtimeState("node1")).toBe("active");
    await driver.destroy();
  });
});
