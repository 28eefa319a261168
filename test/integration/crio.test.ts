/**
 * The component on a real CRI-O 1.36 lab node (built by scripts/tools.sh from its release source), through the test
 * driver: pulls over CRI (crictl against CRI-O's socket) served by the mirrors with the upstream down — a Harbor-style
 * mirror under a path, the auth mirror with its private CA and credentials and `fallback: false`, a digest-only mirror
 * that a tag pull skips — a mirrors-only change picked up by a reload (SIGHUP, same process), the checks of the
 * component (the canary proving CRI-O reads our drop-ins, a proof pull through CRI-O), and removal restoring the node.
 */
import * as fs from "fs";
import * as path from "path";
import { startLab, type Lab } from "../lab";
import { ForkedDriver } from "../driver/forked";
import { labNode, upStack } from "./support/component";
import type { Mirror } from "../../src";

jest.setTimeout(300_000);

let lab: Lab;
const NODE = "crio1";
const DROP_INS = "/etc/containers/registries.conf.d";
const AUTH_FILE = "/etc/containers/registry-mirrors-auth.json";

beforeAll(async () => {
  lab = await startLab({ nodes: [{ name: NODE, runtime: "crio", user: "root" }] });
});
afterAll(async () => {
  await lab?.upstreamUp();
  await lab?.stop();
});

const crioPid = () => fs.readFileSync(path.join(lab.dir, "pids", `${NODE}.crio.pid`), "utf8").trim();
const dropIns = () => fs.readdirSync(lab.nodePath(NODE, DROP_INS)).sort();
const served = (registry: string, repo: string, from: number) =>
  lab.requestsFor(registry as Parameters<Lab["requestsFor"]>[0], repo, { from }).filter((r) => r.status === 200 && r.path.includes("/manifests/"));

function mirrors(docker: string): Mirror[] {
  const auth = lab.registry("auth-mirror");
  return [
    { upstream: "docker.io", endpoints: [{ url: docker }] },
    {
      upstream: "gcr.io",
      endpoints: [{ url: auth.url, caCert: auth.caPem, auth: { username: auth.username!, password: auth.password! } }],
      fallback: false,
    },
    { upstream: "quay.io", endpoints: [{ url: lab.registry("mirror").url }], digestOnly: true },
  ];
}

describe("a real CRI-O node", () => {
  const driver = new ForkedDriver();
  let before: string[];

  it("runs CRI-O 1.36.3 and answers over CRI", async () => {
    expect(lab.node(NODE).runtimeVersion).toMatch(/1\.36\.3/);
    expect(await lab.nsExecOk(NODE, "crictl version")).toMatch(/RuntimeName:\s+cri-o[\s\S]*RuntimeVersion:\s+1\.36\.3/);
    before = dropIns();
  });

  it("after the apply and a reload, pulls by tag and by digest come from the mirrors with the upstream down", async () => {
    const pid = crioPid();
    const image = await lab.pushImage("library/crio-tag");
    const gcr = await lab.pushImage("team/crio-auth", undefined, { registry: "gcr.io" });
    const quay = await lab.pushImage("team/crio-digest", undefined, { registry: "quay.io" });
    const { errors, reports } = await upStack(driver, mirrors(lab.registry("ns-mirror").url), [labNode(lab, NODE, "cri-o")], {
      verify: { pull: image.ref },
    });
    expect(errors).toEqual([]);
    const r = reports![NODE];
    expect(r).toMatchObject({ runtime: { kind: "cri-o", version: "1.36.3" }, action: "reload" });
    expect(r.effective).toMatch(/^cri-o reads \/etc\/containers\/registries\.conf\.d: after a reload, a CRI pull of a canary host/);
    expect(r.proof).toEqual({ image: image.ref, digest: image.digest, servedBy: lab.registry("ns-mirror").url });
    // Reloads (SIGHUP), never a restart: the same process.
    expect(crioPid()).toBe(pid);
    expect(lab.restartCount(NODE)).toBe(0);
    expect(dropIns().filter((f) => f.includes("registry-mirrors"))).toEqual([
      "99-registry-mirrors-docker.io.conf",
      "99-registry-mirrors-gcr.io.conf",
      "99-registry-mirrors-quay.io.conf",
    ]);

    await lab.upstreamDown();
    try {
      const from = { ns: lab.requestCount("ns-mirror"), auth: lab.requestCount("auth-mirror"), mirror: lab.requestCount("mirror") };
      // A Harbor-style mirror under a path, by tag and by digest.
      expect((await lab.criPull(NODE, image.ref)).repoDigests.join()).toContain(image.digest);
      await lab.criRemove(NODE, image.ref);
      expect((await lab.criPull(NODE, image.digestRef)).repoDigests.join()).toContain(image.digest);
      expect(served("ns-mirror", image.repo, from.ns).length).toBeGreaterThanOrEqual(2);
      // The auth mirror (private CA, credentials from the auth file), the only place gcr.io is pulled from.
      expect((await lab.criPull(NODE, gcr.ref)).repoDigests.join()).toContain(gcr.digest);
      expect(served("auth-mirror", gcr.repo, from.auth).length).toBeGreaterThan(0);
      // Digest-only: a tag pull skips the mirror (and the upstream is down), a digest pull uses it.
      await expect(lab.criPull(NODE, quay.ref)).rejects.toThrow(/crictl pull/);
      expect((await lab.criPull(NODE, quay.digestRef)).repoDigests.join()).toContain(quay.digest);
      expect(served("mirror", quay.repo, from.mirror).length).toBeGreaterThan(0);
    } finally {
      await lab.upstreamUp();
    }
  });

  it("a mirrors-only change is picked up by a reload, no restart, and the next pull uses the new mirror", async () => {
    const pid = crioPid();
    const { errors, reports } = await upStack(driver, mirrors(lab.registry("mirror").url), [labNode(lab, NODE, "cri-o")]);
    expect(errors).toEqual([]);
    expect(reports![NODE].action).toBe("reload");
    expect(crioPid()).toBe(pid);
    expect(lab.restartCount(NODE)).toBe(0);
    const image = await lab.pushImage("library/crio-change");
    await lab.upstreamDown();
    try {
      const from = lab.requestCount("mirror");
      expect((await lab.criPull(NODE, image.ref)).repoDigests.join()).toContain(image.digest);
      expect(served("mirror", image.repo, from).length).toBeGreaterThan(0);
    } finally {
      await lab.upstreamUp();
    }
  });

  it("removal takes our drop-ins and the auth file away and leaves CRI-O running", async () => {
    await driver.destroy();
    expect(dropIns()).toEqual(before);
    expect(lab.nodeFileExists(NODE, AUTH_FILE)).toBe(false);
    expect(await lab.runtimeState(NODE)).toBe("active");
  });
});
