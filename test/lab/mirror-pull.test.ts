/**
 * Proof that the lab can show a real pull going through a mirror, with configs written BY HAND here (no library):
 * - containerd 1.6 and 2.x: `certs.d/docker.io/hosts.toml` with `server` = the plain HTTP mirror (no upstream
 *   fallback) + `config_path` in config.toml, restart through the node's systemctl, `crictl pull` of a fresh image
 *   with the upstream DOWN succeeds, the mirror log shows `?ns=docker.io`, the upstream log never saw the image;
 * - the same pull without config_path fails while the upstream is down (control);
 * - CRI-O-style node: a registries.conf.d drop-in makes skopeo and podman fetch from the mirror.
 */
import * as http from "http";
import { Lab, NodeDescription, startLab } from "./index";

jest.setTimeout(300_000);

let lab: Lab;

beforeAll(async () => {
  lab = await startLab({
    nodes: [
      { name: "c16", runtime: "containerd" },
      { name: "c2", runtime: "containerd2" },
      { name: "crio", runtime: "crio" },
      { name: "c16-sudo", runtime: "containerd", user: "lab", sudo: "nopasswd" },
    ],
    log: (s) => process.stdout.write(s + "\n"),
  });
});

afterAll(async () => {
  if (lab) {
    await lab.upstreamUp().catch(() => undefined);
    await lab.stop();
  }
});

/** hosts.toml written by hand: the mirror is the server itself, so there is no fallback to registry-1.docker.io. */
function mirrorOnlyHostsToml(mirrorUrl: string): string {
  return [
    `# docker.io through the lab mirror only (written by hand in mirror-pull.test.ts)`,
    `server = "${mirrorUrl}"`,
    ``,
    `[host."${mirrorUrl}"]`,
    `  capabilities = ["pull", "resolve"]`,
    ``,
  ].join("\n");
}

async function configureContainerd(n: NodeDescription, sudo = ""): Promise<void> {
  const mirror = lab.registry("mirror");
  const toml = mirrorOnlyHostsToml(mirror.url);
  // Write the files over SSH like an operator would (heredoc through the login user, sudo where needed).
  await lab.execOk(n, `${sudo}mkdir -p /etc/containerd/certs.d/docker.io && ${sudo}tee /etc/containerd/certs.d/docker.io/hosts.toml >/dev/null`, {
    input: toml,
  });
  const before = lab.readNodeFile(n, "/etc/containerd/config.toml");
  const after =
    n.runtime === "containerd2"
      ? before.replace(/^(\s*)config_path = ''$/m, "$1config_path = '/etc/containerd/certs.d'")
      : before.replace(/^(\s*)config_path = ""$/m, '$1config_path = "/etc/containerd/certs.d"');
  expect(after).not.toBe(before);
  await lab.execOk(
    n,
    `${sudo}tee /etc/containerd/config.toml.new >/dev/null && ${sudo}mv /etc/containerd/config.toml.new /etc/containerd/config.toml`,
    { input: after },
  );
  const restarts = lab.restartCount(n);
  await lab.execOk(n, `${sudo}systemctl restart containerd`);
  expect(lab.restartCount(n)).toBe(restarts + 1);
  expect(await lab.criLoaded(n)).toBe(true);
}

async function pullThroughMirrorWithUpstreamDown(n: NodeDescription): Promise<void> {
  const img = await lab.pushImage("library/lab-mirror-proof", undefined);
  const upFrom = lab.requestCount("upstream");
  const mFrom = lab.requestCount("mirror");
  await lab.upstreamDown();
  try {
    expect(await lab.upstreamIsUp()).toBe(false);
    const pulled = await lab.criPull(n, img.ref);
    expect(pulled.repoDigest).toBe(`docker.io/${img.repo}@${img.digest}`);
  } finally {
    await lab.upstreamUp();
  }
  const viaMirror = lab.requestsFor("mirror", img.repo, { from: mFrom });
  expect(viaMirror.length).toBeGreaterThanOrEqual(3); // manifest + config + layer
  expect(viaMirror.every((r) => r.params.ns === "docker.io")).toBe(true);
  expect(viaMirror.every((r) => r.userAgent.startsWith("containerd/"))).toBe(true);
  expect(viaMirror.some((r) => r.method === "HEAD" && r.path.endsWith(`/manifests/${img.tag}`))).toBe(true);
  expect(lab.requestsFor("upstream", img.repo, { from: upFrom })).toEqual([]);
}

test("control: with config_path empty, a pull with the upstream down fails (and works with it up)", async () => {
  const n = lab.node("c2");
  const img = await lab.pushImage("library/lab-control");
  await lab.upstreamDown();
  try {
    await expect(lab.criPull(n, img.ref, { timeoutMs: 60_000 })).rejects.toThrow(/crictl pull/);
  } finally {
    await lab.upstreamUp();
  }
  const ok = await lab.criPull(n, img.ref);
  expect(ok.repoDigest).toBe(`docker.io/${img.repo}@${img.digest}`);
  const up = lab.requestsFor("upstream", img.repo);
  expect(up.some((r) => r.host === "registry-1.docker.io" && r.sni === "registry-1.docker.io")).toBe(true);
  expect(lab.requestsFor("mirror", img.repo)).toEqual([]);
});

test("containerd 1.6 (config v2): hand-written hosts.toml + config_path, pull served by the mirror alone", async () => {
  const n = lab.node("c16");
  await configureContainerd(n);
  await pullThroughMirrorWithUpstreamDown(n);
});

test("containerd 2.x (config v3): hand-written hosts.toml + config_path, pull served by the mirror alone", async () => {
  const n = lab.node("c2");
  await configureContainerd(n);
  await pullThroughMirrorWithUpstreamDown(n);
});

test("containerd 1.6 as the unprivileged user with sudo", async () => {
  const n = lab.node("c16-sudo");
  await configureContainerd(n, "sudo -n ");
  await pullThroughMirrorWithUpstreamDown(n);
  expect(
    lab
      .systemctlCalls(n)
      .filter((c) => c.verb === "restart")
      .every((c) => c.uid === 0),
  ).toBe(true);
});

test("CRI-O-style node: a registries.conf.d drop-in makes skopeo and podman use the mirror", async () => {
  const n = lab.node("crio");
  const mirror = lab.registry("mirror");
  const dropIn = [
    `# written by hand in mirror-pull.test.ts`,
    `[[registry]]`,
    `prefix = "docker.io"`,
    `location = "docker.io"`,
    ``,
    `[[registry.mirror]]`,
    `location = "${mirror.host}"`,
    `insecure = true`,
    ``,
  ].join("\n");
  await lab.execOk(n, "tee /etc/containers/registries.conf.d/50-lab-mirror.conf >/dev/null && systemctl reload crio", { input: dropIn });
  expect(lab.systemctlCalls(n).some((c) => c.verb === "reload" && c.unit === "crio" && c.exitCode === 0)).toBe(true);

  const img = await lab.pushImage("library/lab-skopeo-proof");
  const pod = await lab.pushImage("library/lab-podman-proof");
  const upFrom = lab.requestCount("upstream");
  await lab.upstreamDown();
  try {
    const info = await lab.skopeoInspect(n, img.ref);
    expect(info.Digest).toBe(img.digest);
    await lab.podmanPull(n, pod.ref);
  } finally {
    await lab.upstreamUp();
  }
  const sk = lab.requestsFor("mirror", img.repo);
  expect(sk.length).toBeGreaterThanOrEqual(2);
  expect(sk.every((r) => r.userAgent.startsWith("skopeo/"))).toBe(true);
  expect(lab.requestsFor("mirror", pod.repo).some((r) => r.userAgent.includes("containers/image"))).toBe(true);
  expect(lab.requests("upstream", { from: upFrom })).toEqual([]);

  // the machine's own registries.conf.d is untouched
  const fs = await import("fs");
  expect(fs.existsSync("/etc/containers/registries.conf.d/50-lab-mirror.conf")).toBe(false);
});

test("namespaced mirror: override_path = true on /v2/test-namespace serves containerd 1.6 (certs.d is re-read without restart)", async () => {
  const n = lab.node("c16");
  const ns = lab.registry("ns-mirror");
  const toml = [
    `server = "${ns.url}"`,
    `override_path = true`,
    ``,
    `[host."${ns.url}"]`,
    `  capabilities = ["pull", "resolve"]`,
    `  override_path = true`,
    ``,
  ].join("\n");
  await lab.execOk(n, "tee /etc/containerd/certs.d/docker.io/hosts.toml >/dev/null", { input: toml });
  const img = await lab.pushImage("library/lab-ns-proof");
  await lab.upstreamDown();
  try {
    expect((await lab.criPull(n, img.ref)).repoDigest).toBe(`docker.io/${img.repo}@${img.digest}`);
  } finally {
    await lab.upstreamUp();
  }
  const reqs = lab.requestsFor("ns-mirror", img.repo);
  expect(reqs.length).toBeGreaterThanOrEqual(3);
  expect(reqs.every((r) => r.path.startsWith(`${ns.pathPrefix}/${img.repo}/`) && r.params.ns === "docker.io" && r.status === 200)).toBe(true);
  // outside the namespace the front answers 404
  const status = await new Promise<number>((resolve, reject) => {
    http
      .get(`http://127.0.0.1:${ns.port}/v2/${img.repo}/manifests/${img.tag}`, { timeout: 10_000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on("error", reject);
  });
  expect(status).toBe(404);
});

test("auth mirror: private CA + basic auth; containerd 2.x pulls with ca in hosts.toml and CRI credentials", async () => {
  const n = lab.node("c2");
  const am = lab.registry("auth-mirror");
  await lab.execOk(n, "tee /etc/containerd/certs.d/docker.io/auth-mirror-ca.crt >/dev/null", { input: am.caPem! });
  const toml = [
    `server = "${am.url}"`,
    `ca = "/etc/containerd/certs.d/docker.io/auth-mirror-ca.crt"`,
    ``,
    `[host."${am.url}"]`,
    `  capabilities = ["pull", "resolve"]`,
    `  ca = "/etc/containerd/certs.d/docker.io/auth-mirror-ca.crt"`,
    ``,
  ].join("\n");
  await lab.execOk(n, "tee /etc/containerd/certs.d/docker.io/hosts.toml >/dev/null", { input: toml });
  const img = await lab.pushImage("library/lab-auth-proof");
  await lab.upstreamDown();
  try {
    // without credentials the mirror refuses (401) and there is no fallback
    await expect(lab.criPull(n, img.ref, { timeoutMs: 60_000 })).rejects.toThrow(/crictl pull/);
    const pulled = await lab.criPull(n, img.ref, { creds: `${am.username}:${am.password}` });
    expect(pulled.repoDigest).toBe(`docker.io/${img.repo}@${img.digest}`);
  } finally {
    await lab.upstreamUp();
  }
  const reqs = lab.requestsFor("auth-mirror", img.repo);
  expect(reqs.some((r) => r.status === 401)).toBe(true);
  expect(reqs.some((r) => r.status === 200 && r.remoteUser === am.username && r.params.ns === "docker.io")).toBe(true);
  expect(lab.requestsFor("upstream", img.repo)).toEqual([]);
});

test("auth mirror: the private CA is not trusted by nodes by default (TLS error without it)", async () => {
  const n = lab.node("crio");
  const am = lab.registry("auth-mirror");
  const r = await lab.nsExec(n, [
    "skopeo",
    "inspect",
    "--no-tags",
    "--creds",
    `${am.username}:${am.password}`,
    `docker://${am.host}/library/hello:1.0`,
  ]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/x509|certificate/);
  // with the CA in /etc/containers/certs.d/<host>/ it works
  lab.writeNodeFile(n, `/etc/containers/certs.d/${am.host}/ca.crt`, am.caPem!);
  const ok = await lab.skopeoInspect(n, `${am.host}/library/hello:1.0`, { creds: `${am.username}:${am.password}` });
  expect(ok.Digest).toBe(lab.describe().images[0].digest);
  const bad = await lab.nsExec(n, ["skopeo", "inspect", "--no-tags", "--creds", `${am.username}:wrong`, `docker://${am.host}/library/hello:1.0`]);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/401|unauthorized|authentication required/i);
});
