/**
 * The agent's checks under dash, bash and busybox sh, against real HTTP(S) servers on 127.0.0.1: the probe of every
 * endpoint before anything is written (TLS, credentials, Bearer tokens, refused ports, curl or GNU wget), no secret in
 * any process listing, and the rollback when the runtime's own view (a CRI pull of a canary) or the proof pull (ctr) says no.
 * crictl and ctr are stand-ins here (what they answer is the test's input); test/integration runs the real ones.
 */
import { execFileSync, spawnSync } from "child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as http from "http";
import * as https from "https";
import type { AddressInfo } from "net";
import { tmpdir } from "os";
import { join } from "path";
import { renderNodeConfig, type Mirror } from "../../src";
import { effectiveCheck, parseImageReference, probeTargets, proofPlan, type ImageReference, type ProbeMode } from "../../src/node/checks";
import { applyCommand, parseApplyOutput, type ApplyChecks } from "../../src/node/protocol";
import { makeCa, makeServerCert, type CertFiles } from "../lab/pki";
import { FakeNode, LIVE_CONFIG, SHELLS, type ShellName } from "./fake-node";

jest.setTimeout(60_000);

const PASSWORD = "pr0be-S3CRET-value";
const USER = "robot";
const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;

let pkiDir: string;
let ca: CertFiles;
let server: CertFiles;
const servers: (http.Server | https.Server)[] = [];
/** Ports of the servers: a registry, one asking for basic auth, one with a token service, a slow one. */
const port = { plain: 0, tls: 0, basic: 0, bearer: 0, slow: 0, refused: 0 };

function listen(s: http.Server | https.Server): Promise<number> {
  servers.push(s);
  return new Promise((resolve) => s.listen(0, "127.0.0.1", () => resolve((s.address() as AddressInfo).port)));
}

beforeAll(async () => {
  pkiDir = mkdtempSync(join(tmpdir(), "rm-probe-pki-"));
  ca = await makeCa(pkiDir, "ca", "probe test CA");
  server = await makeServerCert(pkiDir, "server", ca, ["localhost"]);
  const tls = { key: readFileSync(server.key), cert: readFileSync(server.cert) };
  const registry: http.RequestListener = (_req, res) => {
    res.writeHead(200, { "Docker-Distribution-API-Version": "registry/2.0" }).end("{}");
  };
  port.plain = await listen(http.createServer(registry));
  port.tls = await listen(https.createServer(tls, registry));
  port.basic = await listen(
    https.createServer(tls, (req, res) => {
      if (req.headers.authorization === basic) res.writeHead(200).end("{}");
      else res.writeHead(401, { "WWW-Authenticate": 'Basic realm="registry"' }).end();
    }),
  );
  const bearer = https.createServer(tls, (req, res) => {
    if (req.url?.startsWith("/token")) {
      if (req.headers.authorization === basic) res.writeHead(200).end('{"token":"t"}');
      else res.writeHead(401).end();
    } else res.writeHead(401, { "WWW-Authenticate": `Bearer realm="https://127.0.0.1:${port.bearer}/token",service="registry"` }).end();
  });
  port.bearer = await listen(bearer);
  // Answers after 1.5 s, so the probe's processes can be seen in `ps` meanwhile.
  port.slow = await listen(https.createServer(tls, (req, res) => setTimeout(() => registry(req, res), 1500)));
  // A port that was just free: nothing listens on it.
  const probe = http.createServer();
  port.refused = await listen(probe);
  await new Promise((r) => probe.close(r));
  servers.splice(servers.indexOf(probe), 1);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(pkiDir, { recursive: true, force: true });
});

function mirror(url: string, extra: Partial<Mirror["endpoints"][0]> = {}, fallback?: boolean): Mirror {
  return { upstream: "docker.io", endpoints: [{ url, ...extra }], ...(fallback === undefined ? {} : { fallback }) };
}

/** Plans on the node's read, with the given checks, and runs the apply in the background (the servers must answer). */
async function apply(node: FakeNode, mirrors: Mirror[], checks: ApplyChecks) {
  const read = node.read();
  const plan = renderNodeConfig({
    mirrors,
    runtime: { kind: "containerd", version: "1.6.20" },
    liveConfig: read.mainConfig!.content,
    paths: node.paths,
  });
  const cmd = applyCommand({
    ...node.target,
    healthTimeoutSeconds: 2,
    runtime: "containerd",
    paths: node.paths,
    plan,
    readMain: read.mainConfig,
    checks: { probeTimeoutSeconds: 3, ...checks },
  });
  const result = await node.runAsync(cmd.command, cmd.stdin);
  return { result, report: parseApplyOutput(result.stdout), cmd };
}

const probes = (mirrors: Mirror[], mode: ProbeMode = "error") => ({ probes: probeTargets(mirrors, "containerd", mode) });

/** Nothing of the apply on the node: no hosts.toml, config.toml as it was, no manifest. */
function expectUntouched(node: FakeNode): void {
  expect(existsSync(node.hostsToml("docker.io"))).toBe(false);
  expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE_CONFIG);
  expect(node.manifest()).toEqual([]);
}

describe.each(Object.keys(SHELLS) as ShellName[])("probe under %s", (shell) => {
  let node: FakeNode;
  beforeEach(() => (node = new FakeNode(shell)));
  afterEach(() => node.dispose());

  test("endpoints that answer as registries pass, with their latency; the apply goes on", async () => {
    const mirrors = [
      mirror(`https://127.0.0.1:${port.tls}`, { caCert: ca.pem }),
      { upstream: "quay.io", endpoints: [{ url: `http://127.0.0.1:${port.plain}` }] },
    ];
    const { result, report } = await apply(node, mirrors, probes(mirrors));
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(report.probes.map((p) => [p.endpoint, p.result])).toEqual([
      [`https://127.0.0.1:${port.tls}`, "ok"],
      [`http://127.0.0.1:${port.plain}`, "ok"],
    ]);
    expect(report.probes.every((p) => p.latencyMs >= 0 && p.latencyMs < 3000)).toBe(true);
    expect(existsSync(node.hostsToml("docker.io"))).toBe(true);
  });

  test("a refused port fails the node's probe before anything is written, naming the endpoint and what to check", async () => {
    const mirrors = [mirror(`http://127.0.0.1:${port.refused}`)];
    const { result } = await apply(node, mirrors, probes(mirrors));
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `node node-a: step probe: .*nothing was written.*http://127\\.0\\.0\\.1:${port.refused}: connection refused.*check the mirror runs`,
        "s",
      ),
    );
    expectUntouched(node);
  });

  test("a mirror whose CA the node does not trust fails with a TLS error that names caCert", async () => {
    const mirrors = [mirror(`https://127.0.0.1:${port.tls}`)];
    const { result } = await apply(node, mirrors, probes(mirrors));
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/step probe: .*TLS failed: the node does not trust the mirror's certificate.*set caCert/s);
    expectUntouched(node);
  });

  test("skipVerify is probed as the runtime will use it: without verifying the certificate", async () => {
    const mirrors = [mirror(`https://127.0.0.1:${port.tls}`, { skipVerify: true })];
    const { result, report } = await apply(node, mirrors, probes(mirrors));
    expect(result.status).toBe(0);
    expect(report.probes[0].result).toBe("ok");
  });

  test("credentials: accepted ones pass, wrong ones fail (basic challenge and Bearer token service)", async () => {
    const good = { caCert: ca.pem, auth: { username: USER, password: PASSWORD } };
    const bad = { caCert: ca.pem, auth: { username: USER, password: "wrong" } };
    for (const p of [port.basic, port.bearer]) {
      const ok = [mirror(`https://127.0.0.1:${p}`, good)];
      const passed = await apply(node, ok, probes(ok));
      expect(passed.result.stderr).toBe("");
      expect(passed.report.probes[0]).toMatchObject({ result: "ok" });
      node.remove();
      const wrong = [mirror(`https://127.0.0.1:${p}`, bad)];
      const failed = await apply(node, wrong, probes(wrong));
      expect(failed.result.status).toBe(1);
      expect(failed.result.stderr).toMatch(/step probe: .*check auth\.username and auth\.password/s);
      expectUntouched(node);
    }
  });

  test("without credentials a 401 with a challenge is a registry that hands out anonymous tokens: it passes", async () => {
    const mirrors = [mirror(`https://127.0.0.1:${port.bearer}`, { caCert: ca.pem })];
    const { result, report } = await apply(node, mirrors, probes(mirrors));
    expect(result.status).toBe(0);
    expect(report.probes[0].detail).toMatch(/401 with a challenge/);
  });

  test('probe: "warn" lets a dead mirror with fallback through as a warning; without fallback it is an error all the same', async () => {
    const dead = [mirror(`http://127.0.0.1:${port.refused}`)];
    const warned = await apply(node, dead, probes(dead, "warn"));
    expect(warned.result.status).toBe(0);
    expect(warned.report.probes[0].result).toBe("warn");
    expect(warned.report.warnings.join("\n")).toMatch(/does not answer from this node .*probe: "warn"/);
    expect(existsSync(node.hostsToml("docker.io"))).toBe(true);
    node.remove();
    const noFallback = [mirror(`http://127.0.0.1:${port.refused}`, {}, false)];
    const failed = await apply(node, noFallback, probes(noFallback, "warn"));
    expect(failed.result.status).toBe(1);
    expect(failed.result.stderr).toMatch(/step probe/);
    expectUntouched(node);
  });

  test("no secret in any process listing, in the output or in the state while probes run", async () => {
    const mirrors = [
      mirror(`https://127.0.0.1:${port.slow}`, { caCert: ca.pem, auth: { username: USER, password: PASSWORD }, headers: { "X-Token": PASSWORD } }),
    ];
    const running = apply(node, mirrors, probes(mirrors));
    const listings: string[] = [];
    let done = false;
    void running.then(() => (done = true));
    while (!done) {
      listings.push(execFileSync("ps", ["-eww", "-o", "args"], { encoding: "utf8" }));
      await new Promise((r) => setTimeout(r, 50));
    }
    const { result, report } = await running;
    expect(result.status).toBe(0);
    expect(report.probes[0].result).toBe("ok");
    // The probe was seen running, so the listings did cover it.
    expect(listings.some((l) => l.includes(`https://127.0.0.1:${port.slow}/v2/`))).toBe(true);
    expect(listings.filter((l) => l.includes(PASSWORD))).toEqual([]);
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
    // The state (manifest, backups, the run's directory with the probe's config files) holds no copy: grep finds none.
    const inState = spawnSync("grep", ["-rl", "--", PASSWORD, node.stateDir], { encoding: "utf8" });
    expect([inState.status, inState.stdout]).toEqual([1, ""]);
  });

  test("GNU wget probes when curl is missing", async () => {
    // A curl that is not one: the agent must fall back to wget.
    writeFileSync(join(node.root, "bin/curl"), "#!/bin/sh\nexit 127\n");
    chmodSync(join(node.root, "bin/curl"), 0o755);
    const mirrors = [mirror(`https://127.0.0.1:${port.tls}`, { caCert: ca.pem })];
    const { result, report } = await apply(node, mirrors, probes(mirrors));
    expect(result.stderr).toBe("");
    expect(report.probes[0]).toMatchObject({ result: "ok", detail: "HTTP 200" });
    node.remove();
    const dead = [mirror(`http://127.0.0.1:${port.refused}`)];
    const failed = await apply(node, dead, probes(dead));
    expect(failed.result.stderr).toMatch(/step probe: .*wget exit 4/s);
    expectUntouched(node);
  });
});

/** A stand-in for a runtime tool on the node's PATH: prints `out` (or fails), logging its arguments. */
function tool(node: FakeNode, name: string, script: string): void {
  writeFileSync(join(node.root, "bin", name), `#!/bin/sh\necho "$*" >> ${join(node.root, `${name}.log`)}\n${script}\n`);
  chmodSync(join(node.root, "bin", name), 0o755);
}

describe.each(Object.keys(SHELLS) as ShellName[])("after the commit under %s", (shell) => {
  let node: FakeNode;
  beforeEach(() => (node = new FakeNode(shell)));
  afterEach(() => node.dispose());
  const mirrors = [mirror("https://mirror.internal:5000")];
  const image = parseImageReference("busybox:1.36") as ImageReference;

  /** A crictl that pulls the way containerd does: through `<dir>/<host>/hosts.toml` when it exists, else from the host. */
  const criPullFrom = (dir: string) =>
    `ref=$(for a in "$@"; do :; done; echo "$a"); host=\${ref%%/*}; path=\${ref#*/}; repo=\${path%:*}
if grep -q 127.0.0.1:9 "${dir}/$host/hosts.toml" 2>/dev/null; then url=http://127.0.0.1:9; else url=https://$host; fi
echo "pulling image: failed to resolve image: failed to do request: Head \\"$url/v2/$repo/manifests/check\\": dial tcp: refused" >&2; exit 1`;

  test("a runtime that reads our hosts directory passes: a CRI pull of a canary host goes where our file sends it", async () => {
    tool(node, "crictl", criPullFrom(node.paths.hostsDir));
    const { result, report } = await apply(node, mirrors, { effective: `containerd ${node.paths.hostsDir} /run/containerd/containerd.sock` });
    expect(result.stderr).toBe("");
    expect(report.effective).toBe(`containerd reads ${node.paths.hostsDir}: a CRI pull of a canary host went where its hosts.toml there sends it`);
    expect(readFileSync(join(node.root, "crictl.log"), "utf8")).toMatch(/pull registry-mirrors-canary\.invalid\/registry-mirrors\/canary:check/);
    // The canary is gone again.
    expect(existsSync(join(node.paths.hostsDir, "registry-mirrors-canary.invalid"))).toBe(false);
  });

  test("a runtime that reads another hosts directory rolls the node back to its previous files", async () => {
    tool(node, "crictl", criPullFrom("/etc/other/certs.d"));
    const { result } = await apply(node, mirrors, { effective: `containerd ${node.paths.hostsDir} /run/containerd/containerd.sock` });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /step effective: containerd does not read the hosts directory registry-mirrors wrote .*went to the host itself.*Rolled back: the previous files were restored and containerd is running again/s,
    );
    expectUntouched(node);
    expect(existsSync(join(node.paths.hostsDir, "docker.io"))).toBe(false);
    // The main config changed (config_path set), so the runtime was restarted with it and again without it.
    expect(readFileSync(node.systemctlLog, "utf8").trim().split("\n")).toEqual(["restart containerd", "restart containerd"]);
  });

  test("a proof pull served by a mirror reports the endpoint and the digest, and removes what it pulled", async () => {
    const digest = `sha256:${"a".repeat(64)}`;
    tool(
      node,
      "ctr",
      `case "$*" in *"images ls"*) echo "REF TYPE DIGEST"; echo "${image.full} application/vnd.oci.image.index.v1+json ${digest}" ;; esac`,
    );
    const proof = proofPlan(mirrors, "containerd", image, node.paths);
    const { result, report } = await apply(node, mirrors, { proof });
    expect(result.stderr).toBe("");
    expect(report.proof).toEqual({ servedBy: "https://mirror.internal:5000", digest });
    const calls = readFileSync(join(node.root, "ctr.log"), "utf8");
    expect(calls).toMatch(/-n registry-mirrors-proof images pull --hosts-dir \S+ docker\.io\/library\/busybox:1\.36/);
    expect(calls).toMatch(/-n registry-mirrors-proof images rm/);
  });

  test("a proof pull that no mirror serves rolls the node back and says what the pull said", async () => {
    tool(node, "ctr", `case "$*" in *pull*) echo "ctr: failed to resolve reference: not found" >&2; exit 1 ;; esac`);
    const proof = proofPlan(mirrors, "containerd", image, node.paths);
    const { result, report } = await apply(node, mirrors, { proof });
    expect(result.status).toBe(1);
    expect(report.proof).toBeUndefined();
    expect(result.stderr).toMatch(
      /step proof: no mirror endpoint served docker\.io\/library\/busybox:1\.36.*through https:\/\/mirror\.internal:5000: ctr: failed to resolve reference: not found.*Rolled back/s,
    );
    expectUntouched(node);
    expect(readFileSync(join(node.root, "ctr.log"), "utf8")).toMatch(
      /^--address \/run\/containerd\/containerd.sock namespaces rm registry-mirrors-proof$/m,
    );
  });
});

describe("the proof's files", () => {
  const paths = new FakeNode().paths;
  test("containerd: one hosts.toml per endpoint whose only host and server is that endpoint, never the upstream", () => {
    const mirrors: Mirror[] = [
      { upstream: "docker.io", endpoints: [{ url: "https://a.internal" }, { url: "http://b.internal:5000", capabilities: ["pull"] }] },
    ];
    const plan = proofPlan(mirrors, "containerd", parseImageReference("nginx") as ImageReference, paths);
    expect(plan.image.full).toBe("docker.io/library/nginx:latest");
    expect(plan.attempts.map((a) => [a.label, a.name])).toEqual([
      ["https://a.internal", "docker.io"],
      ["http://b.internal:5000", "docker.io"],
    ]);
    expect(plan.attempts[1].content).toMatch(/^server = "http:\/\/b\.internal:5000"$/m);
    expect(plan.attempts[1].content).not.toMatch(/a\.internal|registry-1\.docker\.io/);
    expect(plan.attempts[1].content).toMatch(/capabilities = \[ "pull", "resolve" \]/);
  });
  test("CRI-O: an entry for exactly the image's repository, located at the endpoint", () => {
    const mirrors: Mirror[] = [{ upstream: "quay.io", endpoints: [{ url: "https://harbor.internal/v2/quay-proxy" }] }];
    const plan = proofPlan(
      mirrors,
      "cri-o",
      parseImageReference("quay.io/prometheus/node-exporter@sha256:" + "b".repeat(64)) as ImageReference,
      paths,
    );
    expect(plan.attempts[0].content).toContain('prefix = "quay.io/prometheus/node-exporter"');
    expect(plan.attempts[0].content).toContain('location = "harbor.internal/quay-proxy/prometheus/node-exporter"');
  });
  test("image references", () => {
    expect(parseImageReference("registry-1.docker.io/library/busybox:1.36")).toMatchObject({ full: "docker.io/library/busybox:1.36" });
    expect(parseImageReference("localhost:5000/a/b")).toMatchObject({ registry: "localhost:5000", full: "localhost:5000/a/b:latest" });
    expect(parseImageReference("team/app:v1")).toMatchObject({ full: "docker.io/team/app:v1" });
    expect(parseImageReference("Bad Ref")).toMatch(/is not an image reference/);
    expect(() =>
      proofPlan([{ upstream: "quay.io", endpoints: [{ url: "https://q" }] }], "containerd", parseImageReference("nginx") as ImageReference, paths),
    ).toThrow(/no mirror is configured for docker\.io/);
  });
});

describe.each(Object.keys(SHELLS) as ShellName[])("Docker's own view under %s", (shell) => {
  let node: FakeNode;
  beforeEach(() => (node = new FakeNode(shell)));
  afterEach(() => node.dispose());

  /** An apply to a Docker node whose daemon.json is absent, asking `docker info` (a stand-in answering `mirrors`). */
  async function dockerApply(mirrorsSeen: string) {
    tool(node, "docker", `case "$*" in *info*) echo '${mirrorsSeen}' ;; esac`);
    const paths = {
      ...node.paths,
      dockerDaemonJson: join(node.root, "etc/docker/daemon.json"),
      dockerCertsDir: join(node.root, "etc/docker/certs.d"),
    };
    const mirrors = [mirror("http://mirror.internal:5000")];
    const plan = renderNodeConfig({ mirrors, runtime: { kind: "docker", version: "27.0.1" }, liveConfig: "", paths });
    const cmd = applyCommand({
      ...node.target,
      healthTimeoutSeconds: 2,
      runtime: "docker",
      paths,
      plan,
      readMain: { path: paths.dockerDaemonJson, sha256: "absent" },
      checks: { effective: effectiveCheck("docker", mirrors, paths, false) },
    });
    const result = await node.runAsync(cmd.command, cmd.stdin);
    return { result, report: parseApplyOutput(result.stdout), paths };
  }

  test("dockerd listing the mirror passes, its answer in the report", async () => {
    const { result, report } = await dockerApply('["http://mirror.internal:5000/"]');
    expect(result.stderr).toBe("");
    expect(report.effective).toBe('docker mirrors=["http://mirror.internal:5000/"]');
  });

  test("dockerd without the mirror (another daemon.json, not reloaded) rolls daemon.json back", async () => {
    const { result, paths } = await dockerApply("[]");
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /step effective: dockerd does not use the mirror http:\/\/mirror\.internal:5000: docker info reports registry mirrors \[\].*Rolled back: the previous files were restored and docker is running again/s,
    );
    expect(existsSync(paths.dockerDaemonJson)).toBe(false);
    expect(readFileSync(node.systemctlLog, "utf8").trim().split("\n")).toEqual(["reload docker", "reload docker"]);
  });
});

describe.each(Object.keys(SHELLS) as ShellName[])("CRI-O's own view and proof under %s", (shell) => {
  let node: FakeNode;
  beforeEach(() => (node = new FakeNode(shell)));
  afterEach(() => node.dispose());
  const image = parseImageReference("busybox:1.36") as ImageReference;

  /**
   * A crictl that pulls the way CRI-O does after a reload: through the drop-in of `dir` whose prefix matches (the
   * longest), else from the registry itself. `inspecti` answers for an image pulled before.
   */
  const crioCrictl = (dir: string) =>
    `case "$*" in *version*) exit 0 ;; esac
case "$*" in *inspecti*) [ -f ${join("$ROOT", "pulled")} ] && echo '{"status":{"repoDigests":["docker.io/library/busybox@sha256:${"c".repeat(64)}"]}}' && exit 0; exit 1 ;; esac
case "$*" in *rmi*) rm -f ${join("$ROOT", "pulled")}; exit 0 ;; esac
ref=$(for a in "$@"; do :; done; echo "$a")
loc=$(cat "${dir}"/*.conf 2>/dev/null | awk -v r="$ref" '/^prefix/ {p=$3; gsub(/"/, "", p)} /^location/ {l=$3; gsub(/"/, "", l); if (index(r, p) == 1 && length(p) > best) {best = length(p); out = l}} END {print out}')
case $loc in
  127.0.0.1:9) echo "pinging container registry 127.0.0.1:9: dial tcp 127.0.0.1:9: connect: connection refused" >&2; exit 1 ;;
  mirror.internal*) : > ${join("$ROOT", "pulled")}; echo "Image is up to date for $ref"; exit 0 ;;
  *) echo "pinging container registry \${ref%%/*}: Get https://\${ref%%/*}/v2/: no such host" >&2; exit 1 ;;
esac`;

  async function crioApply(checks: ApplyChecks, registriesDir = join(node.root, "etc/containers/registries.conf.d")) {
    const paths = { ...node.paths, registriesDir, containersCertsDir: join(node.root, "etc/containers/certs.d") };
    const mirrors = [mirror("https://mirror.internal:5000")];
    const plan = renderNodeConfig({ mirrors, runtime: { kind: "cri-o" }, paths });
    const cmd = applyCommand({ ...node.target, healthTimeoutSeconds: 2, runtime: "cri-o", paths, plan, checks: { ...checks } });
    const result = await node.runAsync(`ROOT=${node.root}; export ROOT; ${cmd.command}`, cmd.stdin);
    return { result, report: parseApplyOutput(result.stdout), paths, mirrors };
  }

  test("a CRI-O that reads our drop-in directory after a reload passes; the canary is gone afterwards", async () => {
    const dir = join(node.root, "etc/containers/registries.conf.d");
    tool(node, "crictl", crioCrictl(dir));
    const { result, report } = await crioApply({ effective: `cri-o ${dir} /var/run/crio/crio.sock` });
    expect(result.stderr).toBe("");
    expect(report.effective).toBe(`cri-o reads ${dir}: after a reload, a CRI pull of a canary host went where a drop-in there sends it`);
    expect(existsSync(join(dir, "00-registry-mirrors-canary.conf"))).toBe(false);
    // The apply's reload, the canary's in and out.
    expect(readFileSync(node.systemctlLog, "utf8").trim().split("\n")).toEqual(["reload crio", "reload crio", "reload crio"]);
  });

  test("a CRI-O that reads another directory rolls the drop-in back", async () => {
    const dir = join(node.root, "etc/containers/registries.conf.d");
    tool(node, "crictl", crioCrictl("/etc/containers/elsewhere.d"));
    const { result } = await crioApply({ effective: `cri-o ${dir} /var/run/crio/crio.sock` });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /step effective: CRI-O does not read the registries directory registry-mirrors wrote .*set paths\.registriesDir.*Rolled back: the previous files were restored/s,
    );
    expect(existsSync(join(dir, "99-registry-mirrors-docker.io.conf"))).toBe(false);
  });

  test("the proof pull goes through CRI-O with a drop-in for exactly the image, then removes the image and the drop-in", async () => {
    const dir = join(node.root, "etc/containers/registries.conf.d");
    tool(node, "crictl", crioCrictl(dir));
    const paths = { ...node.paths, registriesDir: dir };
    const proof = proofPlan([mirror("https://mirror.internal:5000")], "cri-o", image, paths);
    const { result, report } = await crioApply({ proof });
    expect(result.stderr).toBe("");
    expect(report.proof).toEqual({ servedBy: "https://mirror.internal:5000", digest: `sha256:${"c".repeat(64)}` });
    expect(existsSync(join(dir, "zz-registry-mirrors-proof.conf"))).toBe(false);
    expect(existsSync(join(node.root, "pulled"))).toBe(false);
    expect(readFileSync(join(node.root, "crictl.log"), "utf8")).toMatch(/rmi docker\.io\/library\/busybox:1\.36/);
  });
});
