/**
 * The component on a real Docker Engine lab node (Debian's dockerd 20.10 in the node's namespace), through the test
 * driver: daemon.json merged with what the node had, dockerd reloaded (SIGHUP, same process), `docker info` showing
 * the mirror (the component's own check), a docker.io pull served by the plain-HTTP mirror (insecure-registries) with
 * the upstream down, and removal restoring daemon.json byte for byte.
 */
import * as fs from "fs";
import * as path from "path";
import { startLab, type Lab } from "../lab";
import { ForkedDriver } from "../driver/forked";
import { labNode, upStack } from "./support/component";

jest.setTimeout(300_000);

let lab: Lab;
const NODE = "docker1";
const DAEMON_JSON = "/etc/docker/daemon.json";
/** What the node's operators had in daemon.json: it must survive every step and come back byte for byte. */
const THEIRS = '{\n  "log-level": "warn",\n  "max-concurrent-downloads": 4\n}\n';

beforeAll(async () => {
  lab = await startLab({ nodes: [{ name: NODE, runtime: "docker", user: "root" }] });
});
afterAll(async () => {
  await lab?.upstreamUp();
  await lab?.stop();
});

const dockerdPid = () => fs.readFileSync(path.join(lab.dir, "pids", `${NODE}.dockerd.pid`), "utf8").trim();

describe("a real Docker Engine node", () => {
  const driver = new ForkedDriver();

  it("runs dockerd and answers on its socket", async () => {
    expect(lab.node(NODE).runtimeVersion).toMatch(/^Docker version 20\.10\./);
    expect(await lab.nsExecOk(NODE, "docker version --format '{{.Server.Version}}'")).toMatch(/^20\.10\./);
    lab.writeNodeFile(NODE, DAEMON_JSON, THEIRS);
    await lab.execOk(NODE, "systemctl restart docker");
  });

  it("after the apply and a reload, docker info lists the mirror and a docker.io pull comes from it with the upstream down", async () => {
    const pid = dockerdPid();
    const mirror = lab.registry("mirror").url;
    const proof = await lab.pushImage("library/docker-verify");
    const { errors, reports } = await upStack(driver, [{ upstream: "docker.io", endpoints: [{ url: mirror }] }], [labNode(lab, NODE, "docker")], {
      verify: { pull: proof.ref },
    });
    expect(errors).toEqual([]);
    const r = reports![NODE];
    expect(r).toMatchObject({ runtime: { kind: "docker" }, action: "reload" });
    expect(r.effective).toBe(`docker mirrors=["${mirror}/"]`);
    expect(r.probes.map((p) => p.result)).toEqual(["ok"]);
    // Docker cannot be kept from Docker Hub: the proof says who may have served it, and the image is gone again.
    expect(r.proof).toEqual({ image: proof.ref, digest: proof.digest, servedBy: "docker.io-or-a-mirror" });
    expect((await lab.nsExec(NODE, ["docker", "image", "inspect", proof.ref])).code).not.toBe(0);
    expect(dockerdPid()).toBe(pid);
    const json = JSON.parse(lab.readNodeFile(NODE, DAEMON_JSON)) as Record<string, unknown>;
    expect(json).toMatchObject({ "log-level": "warn", "max-concurrent-downloads": 4, "registry-mirrors": [mirror] });
    expect(json["insecure-registries"]).toEqual([lab.registry("mirror").host]);

    const image = await lab.pushImage("library/docker-proof");
    await lab.upstreamDown();
    try {
      const from = lab.requestCount("mirror");
      expect((await lab.dockerPull(NODE, image.ref)).repoDigests.join()).toContain(image.digest);
      expect(lab.requestsFor("mirror", image.repo, { from }).some((q) => q.status === 200 && q.path.includes("/manifests/"))).toBe(true);
    } finally {
      await lab.upstreamUp();
    }
  });

  it("removal restores daemon.json byte for byte and restarts dockerd, which then has no mirror", async () => {
    await driver.destroy();
    expect(lab.readNodeFile(NODE, DAEMON_JSON)).toBe(THEIRS);
    expect(await lab.nsExecOk(NODE, "docker info --format '{{json .RegistryConfig.Mirrors}}'")).toBe("[]\n");
    expect(await lab.runtimeState(NODE)).toBe("active");
    // A reload would not do: dockerd keeps registry-mirrors when the key is gone from daemon.json.
    expect(lab.restartCount(NODE)).toBe(2);
  });
});
