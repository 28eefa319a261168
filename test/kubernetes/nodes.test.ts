import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { parseNode, parseNodeList, resolveKubeconfig } from "../../src/kubernetes";
import { RegistryMirrorsError } from "../../src/model/types";

const node = (name: string, crv: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name, labels: { "kubernetes.io/hostname": name, "node-role.kubernetes.io/worker": "" } },
  status: {
    addresses: [
      { type: "Hostname", address: name },
      { type: "InternalIP", address: "10.0.1.11" },
      { type: "InternalIP", address: "fd00::11" },
      { type: "ExternalIP", address: "203.0.113.7" },
    ],
    conditions: [
      { type: "MemoryPressure", status: "False" },
      { type: "Ready", status: "True" },
    ],
    nodeInfo: { containerRuntimeVersion: crv, kubeletVersion: "v1.37.2" },
  },
  ...extra,
});

function problemsOf(f: () => unknown): { path: string; message: string }[] {
  try {
    f();
  } catch (e) {
    if (e instanceof RegistryMirrorsError) return e.problems;
    throw e;
  }
  throw new Error("expected a RegistryMirrorsError");
}

describe("parseNode", () => {
  test.each([
    ["containerd://1.6.20", "containerd", "1.6.20"],
    ["containerd://2.1.4", "containerd", "2.1.4"],
    ["containerd://1.7.11-k3s2", "containerd", "1.7.11"],
    ["cri-o://1.36.3", "cri-o", "1.36.3"],
    ["docker://24.0.7", "docker", "24.0.7"],
  ])("%s → %s %s", (crv, kind, version) => {
    const n = parseNode(node("worker-1", crv));
    expect(n).toEqual({
      name: "worker-1",
      internalIP: "10.0.1.11",
      hostname: "worker-1",
      addresses: node("worker-1", crv).status.addresses,
      runtime: { kind, version },
      containerRuntimeVersion: crv,
      kubeletVersion: "v1.37.2",
      labels: { "kubernetes.io/hostname": "worker-1", "node-role.kubernetes.io/worker": "" },
      ready: true,
    });
  });

  test("a node without InternalIP, labels or Ready condition", () => {
    const n = parseNode({ metadata: { name: "n" }, status: { nodeInfo: { containerRuntimeVersion: "containerd://1.7.0" } } });
    expect(n).toMatchObject({ name: "n", internalIP: undefined, addresses: [], labels: {}, ready: false });
  });

  test.each([
    ["remote://1.0", /expected containerd:\/\/VERSION, cri-o:\/\/VERSION, docker:\/\/VERSION/],
    ["containerd://", /no version after containerd:\/\//],
    ["1.6.20", /expected containerd/],
    ["", /has not reported its runtime yet/],
  ])("containerRuntimeVersion %j is refused, naming the field", (crv, message) => {
    const [p] = problemsOf(() => parseNode(node("w2", crv), "nodes[4]"));
    expect(p.path).toBe("nodes[4] (w2).status.nodeInfo.containerRuntimeVersion");
    expect(p.message).toMatch(message);
  });

  test("a node without a name", () => {
    expect(problemsOf(() => parseNode({ metadata: {} }, "nodes[0]"))).toEqual([{ path: "nodes[0].metadata.name", message: "is missing" }]);
  });

  test("parseNodeList reports every unusable node at once", () => {
    const problems = problemsOf(() => parseNodeList({ items: [node("a", "containerd://1.7.0"), node("b", "gvisor://1"), node("c", "")] }));
    expect(problems.map((p) => p.path)).toEqual([
      "nodes[1] (b).status.nodeInfo.containerRuntimeVersion",
      "nodes[2] (c).status.nodeInfo.containerRuntimeVersion",
    ]);
    expect(problemsOf(() => parseNodeList({ kind: "Status" }))[0].path).toBe("NodeList.items");
  });
});

describe("resolveKubeconfig", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "regmirror-kubeconfig-"));
    fs.mkdirSync(path.join(dir, "pki"));
    fs.writeFileSync(path.join(dir, "pki", "ca.crt"), "CA PEM\n");
    fs.writeFileSync(path.join(dir, "pki", "admin.crt"), "CERT PEM\n");
    fs.writeFileSync(path.join(dir, "pki", "admin.key"), "KEY PEM\n");
    fs.writeFileSync(path.join(dir, "token"), "tok-from-file\n");
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const config = (over: { cluster?: object; user?: object; current?: string } = {}) => ({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: "prod", cluster: { server: "https://10.0.0.1:6443", "certificate-authority-data": b64("CA DATA"), ...over.cluster } },
      { name: "lab", cluster: { server: "https://127.0.0.1:16443/", "certificate-authority": "pki/ca.crt", "tls-server-name": "kubernetes" } },
    ],
    users: [
      { name: "admin", user: { "client-certificate": "pki/admin.crt", "client-key": "pki/admin.key" } },
      { name: "robot", user: { token: "tok", ...over.user } },
    ],
    contexts: [
      { name: "prod", context: { cluster: "prod", user: "robot" } },
      { name: "lab", context: { cluster: "lab", user: "admin" } },
    ],
    "current-context": over.current ?? "prod",
  });

  test("current-context, embedded CA and a token", () => {
    expect(resolveKubeconfig(stringify(config()))).toEqual({
      context: "prod",
      server: "https://10.0.0.1:6443",
      ca: "CA DATA",
      clientCert: undefined,
      clientKey: undefined,
      token: "tok",
      basic: undefined,
      skipVerify: false,
      tlsServerName: undefined,
    });
  });

  test("a file: relative references resolve against its directory; another context", () => {
    const f = path.join(dir, "config");
    fs.writeFileSync(f, stringify(config()));
    expect(resolveKubeconfig(f, { context: "lab" })).toMatchObject({
      context: "lab",
      server: "https://127.0.0.1:16443",
      ca: "CA PEM\n",
      clientCert: "CERT PEM\n",
      clientKey: "KEY PEM\n",
      tlsServerName: "kubernetes",
    });
  });

  test("tokenFile and basic auth", () => {
    const text = stringify(config({ user: { token: undefined, tokenFile: "token" } }));
    expect(resolveKubeconfig(text, { baseDir: dir }).token).toBe("tok-from-file");
    expect(resolveKubeconfig(stringify(config({ user: { token: undefined, username: "u", password: "p" } }))).basic).toEqual({
      username: "u",
      password: "p",
    });
  });

  test("errors name the field", () => {
    const p = (c: object, o = {}) => problemsOf(() => resolveKubeconfig(stringify(c), o));
    expect(p(config({ user: { exec: { command: "aws" } } }))[0].path).toBe("kubeconfig.users[robot].user.exec");
    expect(p(config({ cluster: { server: "http://10.0.0.1:8080" } }))[0]).toEqual({
      path: "kubeconfig.clusters[prod].cluster.server",
      message: "http://10.0.0.1:8080: only https:// API servers are supported",
    });
    expect(p(config({ current: "nope" }))[0]).toEqual({ path: "kubeconfig.contexts", message: 'has no entry named "nope" (has: "prod", "lab")' });
    expect(
      p(config({ cluster: { "certificate-authority-data": undefined, "certificate-authority": "missing.crt" } }), { baseDir: dir })[0].path,
    ).toBe("kubeconfig.clusters[prod].cluster.certificate-authority");
    expect(p(config({ user: { "client-certificate-data": b64("C") } }))[0]).toEqual({
      path: "kubeconfig.users[robot].user.client-key",
      message: "is missing: a client certificate needs its key",
    });
    expect(problemsOf(() => resolveKubeconfig(path.join(dir, "absent")))[0].path).toBe("kubeconfig");
    expect(problemsOf(() => resolveKubeconfig("apiVersion: v1\nkind: Pod\n"))[0]).toEqual({
      path: "kubeconfig.kind",
      message: 'is "Pod", expected "Config"',
    });
  });
});
