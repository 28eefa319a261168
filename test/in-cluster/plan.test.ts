/**
 * The in-cluster plan and manifests: what goes into the ConfigMap (readable) and the Secret (credentials), the
 * DaemonSet's contract with the pod program and the rollout's removal patch, and the scripts run for real by the
 * shell as the pod runs them (chroot aside: paths under a temporary root).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { daemonSetManifest, DEFAULT_RESOURCES, inClusterPlan, RegistryMirrorsInCluster } from "../../src/in-cluster";
import { APP_LABEL, MODE_VARIABLE, READ_KEY_VARIABLE, READ_LABEL, readDaemonSetManifest } from "../../src/in-cluster/manifests";
import { inClusterNodePlanner, type InClusterPlanOptions } from "../../src/in-cluster/plan";
import { planNodeReads, sealedBlock } from "../../src/in-cluster/read";
import type { Mirror } from "../../src";

const owner = { id: "proj/dev/mirrors#0123abcd", peers: "proj/dev/" };
const mirrors: Mirror[] = [
  { upstream: "docker.io", endpoints: [{ url: "https://harbor.example.com/v2/dockerhub" }] },
  { upstream: "quay.io", endpoints: [{ url: "https://quay-mirror.example.com", auth: { username: "robot", password: "s3cret-pass" } }] },
];

describe("inClusterPlan", () => {
  const plan = inClusterPlan(mirrors, { owner, probe: "off" });

  test("hosts.toml files readable in apply.sh; credentials only in apply.stdin", () => {
    expect(plan.scripts["apply.sh"]).toContain("/etc/containerd/certs.d/docker.io/hosts.toml");
    expect(plan.scripts["apply.sh"]).toContain('[host."https://harbor.example.com/v2/dockerhub"]');
    const all = JSON.stringify(plan.scripts);
    expect(all).not.toContain("s3cret-pass");
    expect(all).not.toContain(Buffer.from("robot:s3cret-pass").toString("base64"));
    expect(plan.secret["apply.stdin"]).toContain("RM-STDIN-FILE /etc/containerd/certs.d/quay.io/hosts.toml 600");
    expect(plan.files.map((f) => f.path)).toEqual(["/etc/containerd/certs.d/docker.io/hosts.toml", "/etc/containerd/certs.d/quay.io/hosts.toml"]);
  });

  test("one script for every node: the node's name comes from the pod; config.toml is left alone, with a warning", () => {
    expect(plan.scripts["apply.sh"]).toContain('NODE="${NODE_NAME:-in-cluster-node}"');
    expect(plan.scripts["remove.sh"]).toContain('NODE="${NODE_NAME:-in-cluster-node}"');
    expect(plan.secret["apply.stdin"]).not.toContain("RM-META main ");
    expect(plan.warnings.join("\n")).toMatch(/leaves config.toml as it is: .*config_path = "\/etc\/containerd\/certs.d" on every node/);
  });

  test("the scripts' hash follows the scripts and nothing derived from a credential", () => {
    expect(inClusterPlan(mirrors, { owner, probe: "off" }).scriptsHash).toBe(plan.scriptsHash);
    expect(inClusterPlan(mirrors.slice(0, 1), { owner, probe: "off" }).scriptsHash).not.toBe(plan.scriptsHash);
    const rotated = inClusterPlan(
      [mirrors[0], { ...mirrors[1], endpoints: [{ ...mirrors[1].endpoints[0], auth: { username: "robot", password: "other" } }] }],
      {
        owner,
        probe: "off",
      },
    );
    expect(rotated.secret["apply.stdin"]).not.toBe(plan.secret["apply.stdin"]);
    expect(rotated.scriptsHash).toBe(plan.scriptsHash);
  });

  test("the effective check asks the nodes' own socket with their crictl", () => {
    const p = inClusterPlan(mirrors, { owner, criSocket: "/run/k8s/containerd.sock", crictl: "/opt/bin/crictl" });
    expect(p.scripts["apply.sh"]).toContain("EFFECTIVE='containerd /etc/containerd/certs.d /run/k8s/containerd.sock'");
    expect(p.scripts["apply.sh"]).toContain("CRICTL='/opt/bin/crictl'");
    expect(inClusterPlan(mirrors, { owner, effectiveConfig: false }).scripts["apply.sh"]).toContain("EFFECTIVE=''");
  });
});

describe("the scripts as the pod runs them", () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "regmirror-incluster-"));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const run = (script: string, stdin: string, node: string, pathDirs: string[] = []) =>
    spawnSync("/bin/sh", ["-c", script], {
      input: stdin,
      env: { PATH: [...pathDirs, process.env.PATH].join(":"), NODE_NAME: node },
      encoding: "utf8",
      timeout: 60_000,
    });

  test("apply writes and backs up a hand-written file; remove restores it byte for byte", () => {
    const hostsDir = path.join(root, "certs.d");
    const hand = path.join(hostsDir, "docker.io", "hosts.toml");
    fs.mkdirSync(path.dirname(hand), { recursive: true });
    fs.writeFileSync(hand, "# by hand\n");
    const plan = inClusterPlan(mirrors, { owner, probe: "off", effectiveConfig: false, paths: { hostsDir }, stateDir: path.join(root, "state") });
    const applied = run(plan.scripts["apply.sh"], plan.secret["apply.stdin"], "worker-7");
    expect(applied.stderr).toMatch(/registry-mirrors: node worker-7: warning: .*the original, kept as .*is put back/);
    expect(applied.status).toBe(0);
    expect(applied.stdout).toMatch(/^RM-DONE/m);
    expect(fs.readFileSync(hand, "utf8")).toContain("harbor.example.com");
    const quay = path.join(hostsDir, "quay.io", "hosts.toml");
    expect(fs.statSync(quay).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(quay, "utf8")).toContain("Authorization");

    const removed = run(plan.scripts["remove.sh"], "", "worker-7");
    expect(removed.status).toBe(0);
    expect(fs.readFileSync(hand, "utf8")).toBe("# by hand\n");
    expect(fs.existsSync(quay)).toBe(false);
  });

  test("allowConfigEdits: read.sh reads the node; its own stdin sets config_path and restarts containerd through the given systemctl; remove puts config.toml back", () => {
    const hostsDir = path.join(root, "certs.d");
    const config = path.join(root, "config.toml");
    const original = 'version = 2\n# ops team comment\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "pause:3"\n';
    fs.writeFileSync(config, original);
    // The node's systemctl records its calls; its containerd answers (ctr is what the health check runs).
    const bin = path.join(root, "bin");
    fs.mkdirSync(bin);
    const calls = path.join(root, "systemctl.log");
    fs.writeFileSync(path.join(bin, "systemctl"), `#!/bin/sh\necho "$@" >> '${calls}'\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "ctr"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const options: InClusterPlanOptions = {
      owner,
      probe: "off",
      effectiveConfig: false,
      paths: { hostsDir, containerdConfig: config },
      stateDir: path.join(root, "state"),
      allowConfigEdits: true,
      systemctl: path.join(bin, "systemctl"),
      reread: "pulumi up --replace 'urn:pulumi:dev::proj::registry-mirrors:index:RegistryMirrorsInCluster$command:local:Command::mirrors-read'",
    };
    const plan = inClusterPlan(mirrors, options);
    expect(plan.warnings.join("\n")).not.toMatch(/leaves config.toml as it is/);
    expect(plan.scripts["apply.sh"]).toContain(`SYSTEMCTL='${path.join(bin, "systemctl")}'`);
    const read = run(plan.scripts["read.sh"], "", "worker-7", [bin]);
    expect(read.status).toBe(0);
    const node = inClusterNodePlanner(mirrors, options)(read.stdout);
    expect(node.configEdited).toBe(true);
    expect(node.stdin).toContain("RM-META main ");

    // The node's config.toml changed after its read: the apply refuses and says how to read again.
    fs.appendFileSync(config, "# changed by hand\n");
    const stale = run(plan.scripts["apply.sh"], node.stdin, "worker-7", [bin]);
    expect(stale.status).not.toBe(0);
    expect(stale.stderr).toMatch(/registry-mirrors: node worker-7: .*pulumi up --replace 'urn:pulumi:dev::proj::.*mirrors-read'/s);
    fs.writeFileSync(config, original);

    const applied = run(plan.scripts["apply.sh"], node.stdin, "worker-7", [bin]);
    expect(applied.stderr).not.toMatch(/step/);
    expect(applied.status).toBe(0);
    expect(applied.stdout).toMatch(/^RM-ACTION restart$/m);
    expect(fs.readFileSync(config, "utf8")).toContain(`config_path = "${hostsDir}"`);
    expect(fs.readFileSync(config, "utf8")).toContain("# ops team comment");
    expect(fs.readFileSync(calls, "utf8")).toBe("restart containerd\n");
    // Read again: nothing left to edit, so no restart.
    expect(inClusterNodePlanner(mirrors, options)(run(plan.scripts["read.sh"], "", "worker-7", [bin]).stdout).configEdited).toBe(false);

    const removed = run(plan.scripts["remove.sh"], "", "worker-7", [bin]);
    expect(removed.status).toBe(0);
    expect(fs.readFileSync(config, "utf8")).toBe(original);
    expect(fs.readFileSync(calls, "utf8")).toBe("restart containerd\nrestart containerd\n");
  });

  test("the reads of several nodes: each node's stdin in the Secret's data, the renderer's warnings and refusals naming the node", () => {
    const options: InClusterPlanOptions = {
      owner,
      probe: "off",
      effectiveConfig: false,
      paths: { hostsDir: path.join(root, "certs.d"), containerdConfig: path.join(root, "config.toml") },
      stateDir: path.join(root, "state"),
      allowConfigEdits: true,
    };
    const readWith = (config: string) => {
      fs.writeFileSync(path.join(root, "config.toml"), config);
      const r = run(inClusterPlan(mirrors, options).scripts["read.sh"], "", "any");
      expect(r.status).toBe(0);
      return r.stdout;
    };
    // worker-a reads another hosts directory (its files would stop being read); worker-b has legacy mirror tables.
    const elsewhere = readWith('version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/other/certs.d"\n');
    const planned = planNodeReads(mirrors, options, new Map([["worker-a", elsewhere]]));
    expect(Object.keys(planned.data)).toEqual(["worker-a.stdin"]);
    expect(Buffer.from(planned.data["worker-a.stdin"], "base64").toString("utf8")).toContain("RM-META main ");
    expect(planned.nodes).toEqual([{ node: "worker-a", configEdited: true, runtimeVersion: expect.any(String) }]);
    expect(planned.warnings).toEqual([
      expect.stringMatching(/^registry-mirrors: node worker-a: warning: config_path changes from "\/etc\/other\/certs.d"/),
    ]);
    const legacy = readWith(
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n  endpoint = ["https://old.example.com"]\n',
    );
    expect(() =>
      planNodeReads(
        mirrors,
        options,
        new Map([
          ["worker-a", elsewhere],
          ["worker-b", legacy],
        ]),
      ),
    ).toThrow(/^registry-mirrors: node worker-b: step render: /);
  });

  test("a failure names the node the pod runs on", () => {
    const plan = inClusterPlan([{ upstream: "docker.io", endpoints: [{ url: "http://127.0.0.1:9" }] }], {
      owner,
      paths: { hostsDir: path.join(root, "certs.d") },
      stateDir: path.join(root, "state"),
      effectiveConfig: false,
    });
    const applied = run(plan.scripts["apply.sh"], plan.secret["apply.stdin"], "worker-9");
    expect(applied.status).not.toBe(0);
    expect(applied.stderr).toMatch(/registry-mirrors: node worker-9: step probe: [\s\S]*http:\/\/127\.0\.0\.1:9: connection refused/);
    expect(fs.existsSync(path.join(root, "certs.d", "docker.io"))).toBe(false);
  });
});

describe("daemonSetManifest", () => {
  const ds = daemonSetManifest({
    name: "mirrors",
    namespace: "kube-system",
    scriptsName: "mirrors-scripts-1",
    secretName: "mirrors-stdin-1",
    configHash: "abc",
    image: "example.com/agent:1",
    imagePullPolicy: "IfNotPresent",
    priorityClassName: "system-node-critical",
    maxUnavailable: 1,
    agentTimeoutSeconds: 290,
    resources: DEFAULT_RESOURCES,
  }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any

  test("every node, privileged, the host's root, Ready only after the agent", () => {
    const pod = ds.spec.template.spec;
    expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.priorityClassName).toBe("system-node-critical");
    expect(pod.automountServiceAccountToken).toBe(false);
    const c = pod.containers[0];
    expect(c.securityContext).toEqual({ privileged: true });
    expect(c.resources.limits).toEqual({ cpu: "200m", memory: "64Mi" });
    expect(c.readinessProbe.exec.command).toEqual(["/registry-mirrors-node-agent", "ready"]);
    expect(pod.volumes.find((v: { name: string }) => v.name === "host").hostPath.path).toBe("/");
    expect(ds.spec.updateStrategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } });
    expect(ds.metadata.annotations["pulumi.com/skipAwait"]).toBe("true");
  });

  test("the removal's JSON patch addresses the mode as the first variable, and the pod reads the node's name", () => {
    const env = ds.spec.template.spec.containers[0].env;
    expect(env[0]).toEqual({ name: MODE_VARIABLE, value: "apply" });
    expect(env[1]).toEqual({ name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } });
    expect(ds.spec.template.metadata.annotations).toEqual({ "registry-mirrors.io/config-hash": "abc", "registry-mirrors.io/mode": "apply" });
  });
});

describe("the read step's DaemonSet", () => {
  const ds = readDaemonSetManifest({
    name: "mirrors",
    namespace: "kube-system",
    scriptsName: "mirrors-scripts-1",
    image: "example.com/agent:1",
    imagePullPolicy: "IfNotPresent",
    agentTimeoutSeconds: 290,
    resources: DEFAULT_RESOURCES,
    publicKey: "AAAA",
  }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any

  test("its own name and selector (the component's DaemonSet must not adopt its pods), mode read, the key, no Secret", () => {
    expect(ds.metadata.name).toBe("mirrors-read");
    expect(ds.spec.selector.matchLabels).toEqual({ [READ_LABEL]: "mirrors" });
    expect(JSON.stringify(ds)).not.toContain(APP_LABEL);
    const c = ds.spec.template.spec.containers[0];
    expect(c.env[0]).toEqual({ name: MODE_VARIABLE, value: "read" });
    expect(c.env).toContainEqual({ name: READ_KEY_VARIABLE, value: "AAAA" });
    expect(ds.spec.template.spec.volumes.map((v: { name: string }) => v.name).sort()).toEqual(["host", "run", "scripts"]);
    expect(ds.spec.template.spec.tolerations).toEqual([{ operator: "Exists" }]);
  });

  test("the sealed read is the lines between its markers", () => {
    expect(sealedBlock("noise\nRM-SEALED-BEGIN\nabc\ndef\nRM-SEALED-END\n")).toBe("abcdef");
    expect(sealedBlock("RM-SEALED-BEGIN\nabc\n")).toBeUndefined();
  });
});

describe("RegistryMirrorsInCluster arguments", () => {
  test("bad arguments name the field before anything is registered", () => {
    expect(() => new RegistryMirrorsInCluster("Bad_Name", { mirrors, kubeconfig: "k" })).toThrow(/name: must be a DNS label/);
    expect(() => new RegistryMirrorsInCluster("m", { mirrors, kubeconfig: "k", maxUnavailable: 0 })).toThrow(
      /maxUnavailable: must be an integer of at least 1/,
    );
    expect(() => new RegistryMirrorsInCluster("m", { mirrors, kubeconfig: "k", crictl: "crictl" })).toThrow(/crictl: must be an absolute path/);
    expect(() => new RegistryMirrorsInCluster("m", { mirrors, kubeconfig: "k", systemctl: "/bin/systemctl" })).toThrow(
      /systemctl: is used only with allowConfigEdits/,
    );
  });
});
