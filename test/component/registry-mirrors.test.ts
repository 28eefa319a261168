/**
 * The component's resource graph, secrets and argument checks, under Pulumi mocks (no engine, no nodes).
 * Preview behaviour is in preview.test.ts (a separate module registry with preview mocks).
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { readFileSync } from "fs";
import { join } from "path";
import { HOST_KEY, READ_STDOUT_CONTAINERD, applyStdoutFor, installMocks, settle, unwrapSecret, valueOf } from "./mocks";

const recorded = installMocks(false, (name, inputs) =>
  name.endsWith("-read") ? READ_STDOUT_CONTAINERD : name.endsWith("-apply") ? applyStdoutFor(inputs) : undefined,
);
// Imported after the mocks are installed.
import * as rm from "../../src";
import { hostKeyProblems } from "../../src/component/host-key";
import { claimInProgram } from "../../src/component/program-claims";
import { restartPredecessor } from "../../src/component/registry-mirrors";

const KEY = readFileSync(join(__dirname, "..", "model", "fixtures", "client.key"), "utf8");
const connection = (port: number) => ({ host: "127.0.0.1", port, user: "root", privateKey: pulumi.secret("KEY"), hostKey: HOST_KEY });

function commandInputs(name: string) {
  const r = recorded.find((x) => x.name === name);
  if (!r) throw new Error(`no resource ${name}; have ${recorded.map((x) => x.name).join(", ")}`);
  return r.inputs;
}

/** The problems of the argument error `f` throws (it must throw one). */
function problemsOf(f: () => unknown): { path: string; message: string }[] {
  try {
    f();
  } catch (e) {
    if (e instanceof rm.RegistryMirrorsArgumentsError) return e.problems;
    throw e;
  }
  throw new Error("no error");
}

describe("resource graph", () => {
  let component: rm.RegistryMirrors;
  beforeAll(async () => {
    component = new rm.RegistryMirrors("mirrors", {
      mirrors: [
        {
          upstream: "docker.io",
          endpoints: [
            {
              url: "https://mirror.internal:5000",
              auth: { username: "puller", password: pulumi.secret("hunter2-secret") },
              clientCert: readFileSync(join(__dirname, "..", "model", "fixtures", "client.pem"), "utf8"),
              clientKey: pulumi.secret(KEY),
            },
          ],
        },
        { upstream: "gcr.io", endpoints: [{ url: "http://10.0.0.5:5000" }] },
      ],
      nodes: [
        { name: "node-1", connection: connection(2201), runtime: "containerd" },
        { name: "node-2", connection: connection(2202), runtime: "containerd", sudo: true },
      ],
    });
    await valueOf(component.reports);
    await settle();
  });

  it("registers the component and a read and an apply command per node, named after the component and node", () => {
    expect(recorded.filter((r) => r.type === "registry-mirrors:index:RegistryMirrors").map((r) => r.name)).toEqual(["mirrors"]);
    expect(
      recorded
        .filter((r) => r.type === "command:remote:Command")
        .map((r) => r.name)
        .sort(),
    ).toEqual(["mirrors-node-1-apply", "mirrors-node-1-read", "mirrors-node-2-apply", "mirrors-node-2-read"]);
  });

  it("registers a local main-config marker per node: no connection, updated when the planned main config changes", () => {
    const markers = recorded.filter((r) => r.type === "command:local:Command" && r.name.endsWith("-main-config"));
    expect(markers.map((r) => r.name).sort()).toEqual(["mirrors-node-1-main-config", "mirrors-node-2-main-config"]);
    for (const m of markers) {
      expect(m.inputs.connection).toBeUndefined();
      expect(m.inputs.create).toBe("date +%s");
      const [stdin, secret] = unwrapSecret(m.inputs.stdin);
      expect(secret).toBe(true);
      expect(stdin).toMatch(/^[0-9a-f]{64}$/); // the node had no config.toml: the plan writes one
    }
  });

  it("parents every command to the component", async () => {
    const urn = await valueOf(component.urn);
    expect(urn).toContain("registry-mirrors:index:RegistryMirrors::mirrors");
  });

  it("shows non-secret files readably in the apply command and keeps credentials out of it", () => {
    const [create, createSecret] = unwrapSecret(commandInputs("mirrors-node-1-apply").create);
    expect(createSecret).toBe(false);
    expect(create).toContain('[host."http://10.0.0.5:5000"]');
    expect(create).toContain("/etc/containerd/certs.d/docker.io/hosts.toml (mode 600): secret, written from stdin");
    expect(create).not.toContain("hunter2-secret");
    expect(create).not.toContain(Buffer.from("puller:hunter2-secret").toString("base64"));
    expect(create).not.toContain("PRIVATE KEY");
  });

  it("sends secret material only on a secret stdin", () => {
    const [stdin, secret] = unwrapSecret(commandInputs("mirrors-node-1-apply").stdin);
    expect(secret).toBe(true);
    const decoded = String(stdin)
      .split("\n")
      .filter((l) => /^[A-Za-z0-9+/=]+$/.test(l))
      .join("");
    expect(Buffer.from(decoded, "base64").toString("utf8")).toContain("PRIVATE KEY");
  });

  it("keeps the desired-state hash in the read's triggers secret", () => {
    const [triggers, secret] = unwrapSecret(commandInputs("mirrors-node-1-read").triggers);
    expect(secret).toBe(true);
    expect((triggers as string[])[0]).toMatch(/^[0-9a-f]{64}$/);
  });

  it("never uses environment (sshd drops it) and runs through sudo -n when asked", () => {
    for (const r of recorded.filter((x) => x.type === "command:remote:Command")) expect(r.inputs.environment).toBeUndefined();
    expect(String(commandInputs("mirrors-node-2-apply").create)).toContain("exec sudo -n sh -c");
    expect(String(commandInputs("mirrors-node-1-apply").create)).toContain('if [ "$(id -u)" = 0 ]');
  });

  it("gives every apply a delete that restores the node", () => {
    expect(String(commandInputs("mirrors-node-1-apply").delete)).toContain("RM-RESTORED");
  });

  it("names the instance that owns the files in the apply and in its delete: project/stack/name and its URN's hash", async () => {
    const hash = createHash("sha256")
      .update((await valueOf(component.urn))!)
      .digest("hex")
      .slice(0, 8);
    for (const script of [
      String(unwrapSecret(commandInputs("mirrors-node-1-apply").create)[0]),
      String(commandInputs("mirrors-node-1-apply").delete),
    ]) {
      expect(script).toContain(`OWNER='project/stack/mirrors#${hash}'`);
      expect(script).toContain("PEERS='project/stack/'");
    }
  });

  it("reports per node", async () => {
    const reports = await valueOf(component.reports);
    expect(reports!["node-1"]).toMatchObject({
      node: "node-1",
      runtime: { kind: "containerd", version: "1.6.20" },
      action: "none",
      verification: "ok",
    });
  });
});

describe("SSH host keys", () => {
  const mirrors: rm.Mirror[] = [{ upstream: "docker.io", endpoints: [{ url: "http://10.0.0.5:5000" }] }];

  it("a node without a pinned host key is refused before anything is registered, with how to get the key", () => {
    const before = recorded.length;
    const problems = problemsOf(
      () => new rm.RegistryMirrors("nokey", { mirrors, nodes: [{ name: "n1", connection: { host: "10.0.1.11", port: 2222, privateKey: "KEY" } }] }),
    );
    expect(problems.map((p) => p.path)).toEqual(["nodes[0].connection.hostKey"]);
    expect(problems[0].message).toContain("ssh-keyscan -t ed25519 -p 2222 10.0.1.11");
    expect(problems[0].message).toContain("nodes[0].insecureIgnoreHostKey: true");
    expect(recorded.slice(before)).toEqual([]);
  });

  it("so is a bastion without one, and a key that is not a public key line", () => {
    const problems = problemsOf(
      () =>
        new rm.RegistryMirrors("badkeys", {
          mirrors,
          nodes: [
            { name: "n1", connection: { host: "10.0.1.11", privateKey: "KEY", hostKey: HOST_KEY, proxy: { host: "bastion", privateKey: "KEY" } } },
            { name: "n2", connection: { host: "10.0.1.12", privateKey: "KEY", hostKey: "SHA256:iyGWWU+MDiYSsAO7kKYAeEMylyVIASz+tfry91OwSsM" } },
          ],
        }),
    );
    expect(problems.map((p) => p.path)).toEqual(["nodes[0].connection.proxy.hostKey", "nodes[1].connection.hostKey"]);
    expect(problems[0].message).toContain('the bastion of node "n1"');
    expect(problems[1].message).toContain("must be an SSH public key line");
  });

  it("insecureIgnoreHostKey: true connects unchecked, warns, and says so in the report; with a key as well it is refused", async () => {
    const component = new rm.RegistryMirrors("insecure", {
      mirrors,
      nodes: [{ name: "n1", connection: { host: "10.0.1.11", privateKey: "KEY" }, insecureIgnoreHostKey: true, runtime: "containerd" }],
    });
    const reports = await valueOf(component.reports);
    expect(reports!.n1.hostKey).toBe("not checked");
    expect(reports!.n1.warnings[0]).toContain("insecureIgnoreHostKey");
    expect(recorded.some((r) => r.name === "insecure-host-keys")).toBe(false);
    const problems = problemsOf(
      () =>
        new rm.RegistryMirrors("both", {
          mirrors,
          nodes: [{ name: "n1", connection: { host: "h", privateKey: "K", hostKey: HOST_KEY }, insecureIgnoreHostKey: true }],
        }),
    );
    expect(problems.map((p) => p.path)).toEqual(["nodes[0].connection.hostKey"]);
  });

  it("a host key from another resource (an Output) works, and is checked like a plain one once it resolves", async () => {
    const good = new rm.RegistryMirrors("outkey", {
      mirrors,
      nodes: [{ name: "n1", connection: { host: "10.0.1.11", privateKey: "KEY", hostKey: pulumi.output(HOST_KEY) }, runtime: "containerd" }],
    });
    expect((await valueOf(good.reports))!.n1.hostKey).toBe("pinned");
    // What the connection Output's check throws (before any command can run) when the key resolves to nothing:
    expect(hostKeyProblems("nodes[0]", "n1", false, { host: "10.0.1.11", hostKey: "" }).map((p) => p.path)).toEqual(["nodes[0].connection.hostKey"]);
  });

  it("before the read, one local check for all nodes compares each node's key with the pinned fingerprint (no SSH session)", async () => {
    await settle();
    expect(recorded.filter((r) => r.name.startsWith("mirrors-") && r.name.includes("host-key")).map((r) => r.name)).toEqual(["mirrors-host-keys"]);
    const check = recorded.find((r) => r.name === "mirrors-host-keys")!;
    expect(check.type).toBe("command:local:Command");
    expect(check.inputs.connection).toBeUndefined();
    expect(String(check.inputs.create)).toContain("ssh-keyscan -T 5 -p 2201 '127.0.0.1'");
    expect(String(check.inputs.create)).toContain("SHA256:iyGWWU+MDiYSsAO7kKYAeEMylyVIASz+tfry91OwSsM");
    expect(unwrapSecret(check.inputs.stdin)[1]).toBe(true);
  });
});

describe("when a node is read again", () => {
  /** The read trigger of a one-node component, by the component's arguments. */
  async function readTrigger(name: string, mirrors: rm.Mirror[], node: Partial<rm.MirrorNodeArgs> = {}, legacy?: rm.LegacyMode): Promise<string> {
    // A node of its own each: two components of one program writing one node's path differently are refused.
    new rm.RegistryMirrors(name, {
      mirrors,
      nodes: [{ name: "n", connection: connection(3000 + Number(name.slice(1))), runtime: "containerd", ...node }],
      legacy,
    });
    await settle();
    const read = recorded.find((r) => r.name === `${name}-n-read`)!;
    const [triggers] = unwrapSecret(read.inputs.triggers);
    return JSON.stringify(triggers);
  }
  const one: rm.Mirror[] = [{ upstream: "docker.io", endpoints: [{ url: "http://10.0.0.5:5000" }] }];
  const two: rm.Mirror[] = [
    { upstream: "docker.io", endpoints: [{ url: "http://10.0.0.6:5000" }] },
    { upstream: "quay.io", endpoints: [{ url: "http://10.0.0.6:5000" }] },
  ];

  it("not for a change of hosts.toml files only (containerd; CRI-O): the apply plans from the last read", async () => {
    expect(await readTrigger("k1", one)).toBe(await readTrigger("k2", two));
    expect(await readTrigger("k3", one, { runtime: "cri-o" })).toBe(await readTrigger("k4", two, { runtime: "cri-o" }));
  });

  it("for a change of what the plan takes from the node: runtime, paths, legacy mode", async () => {
    const base = await readTrigger("k5", one);
    expect(await readTrigger("k6", one, { runtime: "cri-o" })).not.toBe(base);
    expect(await readTrigger("k7", one, { paths: { hostsDir: "/etc/containerd/mirrors.d" } })).not.toBe(base);
    expect(await readTrigger("k8", one, {}, "migrate")).not.toBe(base);
  });

  it("for any mirror change where the main config holds the mirrors (Docker, legacy write) or the runtime is unknown", async () => {
    const docker: rm.Mirror[] = [{ upstream: "docker.io", endpoints: [{ url: "http://10.0.0.7:5000" }] }];
    expect(await readTrigger("k9", one, { runtime: "docker" })).not.toBe(await readTrigger("k10", docker, { runtime: "docker" }));
    expect(await readTrigger("k11", one, {}, "write")).not.toBe(await readTrigger("k12", two, {}, "write"));
    expect(await readTrigger("k13", one, { runtime: "auto" })).not.toBe(await readTrigger("k14", two, { runtime: "auto" }));
  });
});

describe("restart rollout", () => {
  it("lets at most maxParallelRestarts nodes restart at once; nodes without a restart wait for nobody", () => {
    const restarts = [true, false, true, true, false, true];
    const waitsFor = (max: number) => restarts.map((_, i) => restartPredecessor(restarts.slice(0, i + 1), max));
    expect(waitsFor(1)).toEqual([undefined, undefined, 0, 2, undefined, 3]);
    expect(waitsFor(2)).toEqual([undefined, undefined, undefined, 0, undefined, 2]);
    expect(waitsFor(10)).toEqual(restarts.map(() => undefined));
  });
});

describe("argument checks before anything is created", () => {
  it("invalid plain mirrors throw at once, before any resource is registered", () => {
    const before = recorded.length;
    expect(
      () =>
        new rm.RegistryMirrors("badmirrors", {
          mirrors: [{ upstream: "https://docker.io", endpoints: [] }],
          nodes: [{ name: "n1", connection: connection(9) }],
        }),
    ).toThrow(rm.RegistryMirrorsArgumentsError);
    expect(recorded.slice(before).filter((r) => r.name.startsWith("badmirrors"))).toEqual([]);
  });

  it("lists every problem with its field", () => {
    let error: rm.RegistryMirrorsArgumentsError | undefined;
    try {
      new rm.RegistryMirrors("bad", {
        mirrors: [],
        nodes: [
          { name: "a b", connection: connection(1) },
          { name: "n", connection: connection(2), runtime: "podman" as never, paths: { hostsDir: "relative" } },
          { name: "n", connection: connection(3) },
        ],
        rollout: { maxParallelRestarts: 0 },
        verify: "sometimes" as never,
        takeOver: ["infra/base/mirrors", "base-mirrors"],
      });
    } catch (e) {
      error = e as rm.RegistryMirrorsArgumentsError;
    }
    // An InputPropertiesError (property path + reason each), with the listing and the problems as well.
    expect(error).toBeInstanceOf(rm.RegistryMirrorsArgumentsError);
    expect(pulumi.InputPropertiesError.isInstance(error)).toBe(true);
    expect(error!.errors.map((x) => x.propertyPath)).toEqual(error!.problems.map((p) => p.path));
    expect(error!.errors[0].reason).toBe(error!.problems[0].message);
    expect(error!.message).toContain("invalid RegistryMirrors arguments:\n  - nodes[0].name: must be");
    expect(error!.problems.map((p) => p.path)).toEqual([
      "nodes[0].name",
      "nodes[1].runtime",
      "nodes[1].paths.hostsDir",
      "nodes[2].name",
      "takeOver[1]",
      "rollout.maxParallelRestarts",
      "verify",
    ]);
    expect(error!.problems.find((p) => p.path === "takeOver[1]")!.message).toContain("project/stack/name");
  });

  it("two components of one program that write one node's path differently are refused, naming the other", () => {
    const file = (url: string) => ({ path: "/etc/containerd/certs.d/docker.io/hosts.toml", content: `server = "${url}"\n`, mode: 0o644 });
    claimInProgram("10.0.0.1:22", "project/stack/base", "n1", 0, [file("https://a")]);
    claimInProgram("10.0.0.1:22", "project/stack/base", "n1", 0, [file("https://a")]); // the same component again
    claimInProgram("10.0.0.2:22", "project/stack/team", "n2", 0, [file("https://b")]); // another node
    claimInProgram("10.0.0.1:22", "project/stack/team", "n1", 3, [file("https://a")]); // the same content
    let error: rm.RegistryMirrorsError | undefined;
    try {
      claimInProgram("10.0.0.1:22", "project/stack/team", "n1", 3, [file("https://b")]);
    } catch (e) {
      error = e as rm.RegistryMirrorsError;
    }
    expect(error).toBeInstanceOf(rm.RegistryMirrorsError);
    expect(error!.problems).toEqual([
      {
        path: "nodes[3]",
        message: expect.stringContaining(
          "/etc/containerd/certs.d/docker.io/hosts.toml on 10.0.0.1:22 is also written, with other content, by the component project/stack/base of this program",
        ),
      },
    ]);
  });
});

describe("probe and verify arguments", () => {
  const mirrors: rm.Mirror[] = [{ upstream: "docker.io", endpoints: [{ url: "http://10.0.0.5:5000" }] }];
  const node = { name: "n1", connection: { host: "10.0.1.11", privateKey: "KEY", hostKey: HOST_KEY }, runtime: "containerd" as const };

  it("a bad probe mode, verify mode or proof image is refused before anything is registered, each with its field", () => {
    const problems = problemsOf(
      () =>
        new rm.RegistryMirrors("badchecks", {
          mirrors,
          probe: "sometimes" as rm.ProbeMode,
          verify: { when: "daily" as rm.VerifyMode, pull: "Not An Image", effectiveConfig: "yes" as unknown as boolean },
          nodes: [{ ...node, probe: "loud" as rm.ProbeMode, verify: { pull: "busybox@sha256:short" } }],
        }),
    );
    expect(problems.map((p) => p.path)).toEqual([
      "nodes[0].probe",
      "nodes[0].verify.pull",
      "verify.when",
      "verify.effectiveConfig",
      "verify.pull",
      "probe",
    ]);
    expect(problems.find((p) => p.path === "verify.pull")!.message).toMatch(/is not an image reference/);
  });

  it("the apply command asks the runtime for its view and names the proof image, readable in the preview; probes travel on stdin", async () => {
    const checked = new rm.RegistryMirrors("checks", { mirrors, verify: { pull: "busybox:1.36" }, nodes: [node] });
    await valueOf(checked.reports);
    const [create] = unwrapSecret(commandInputs("checks-n1-apply").create);
    expect(create).toContain("EFFECTIVE='containerd /etc/containerd/certs.d /run/containerd/containerd.sock'");
    expect(create).toContain("PROOF_REF='docker.io/library/busybox:1.36'");
    const off = new rm.RegistryMirrors("nochecks", { mirrors, probe: "off", verify: { effectiveConfig: false }, nodes: [node] });
    await valueOf(off.reports);
    const [plain] = unwrapSecret(commandInputs("nochecks-n1-apply").create);
    expect(plain).toContain("EFFECTIVE=''");
    expect(plain).toContain("PROOF_REF=''");
  });

  it("a proof image from a registry no mirror configures is refused, naming the field", () => {
    const problems = problemsOf(
      () =>
        new rm.RegistryMirrors("wrongproof", {
          mirrors,
          verify: { pull: "quay.io/prometheus/node-exporter:v1" },
          nodes: [{ ...node, verify: { pull: "nginx" } }],
        }),
    );
    expect(problems).toEqual([
      {
        path: "verify.pull",
        message: "quay.io/prometheus/node-exporter:v1 is from quay.io, which no mirror configures; pull an image of a mirrored upstream",
      },
    ]);
  });
});
