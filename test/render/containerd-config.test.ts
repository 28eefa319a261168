/**
 * config.toml edits on every schema and shape a live file comes in. Each edit is checked independently of the
 * renderer's own proof: parse before and after with smol-toml and compare everything but the managed keys.
 */
import { parse } from "smol-toml";
import { RegistryMirrorsError, renderNodeConfig, type Mirror, type RenderInput } from "../../src";
import { CA, CLIENT_CERT, CLIENT_KEY, LIVE_LEGACY, LIVE_V1, LIVE_V2, LIVE_V3 } from "./scenarios";

const MIRRORS: Mirror[] = [{ upstream: "docker.io", endpoints: [{ url: "http://10.0.0.5:5000" }] }];
const V16 = { kind: "containerd" as const, version: "1.6.20" };
const V21 = { kind: "containerd" as const, version: "2.1.4" };

function render(liveConfig: string | undefined, runtime = V16, extra: Partial<RenderInput> = {}) {
  return renderNodeConfig({ mirrors: MIRRORS, runtime, liveConfig, ...extra });
}

/** The problems of the RegistryMirrorsError that `f` throws. */
function problemsOf(f: () => unknown) {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RegistryMirrorsError);
    return (e as RegistryMirrorsError).problems;
  }
  throw new Error("expected RegistryMirrorsError");
}

/** Everything in `after` equals `before` except the value at `managed`, which must equal `value`. */
function expectOnlyChange(before: string, after: string, managed: string[], value: unknown): void {
  const a = JSON.parse(JSON.stringify(parse(before)));
  const b = JSON.parse(JSON.stringify(parse(after)));
  let node = b;
  for (const key of managed.slice(0, -1)) node = node[key];
  expect(node[managed[managed.length - 1]]).toEqual(value);
  delete node[managed[managed.length - 1]];
  let orig = a;
  for (const key of managed.slice(0, -1)) orig = orig?.[key];
  if (orig) delete orig[managed[managed.length - 1]];
  const prune = (v: unknown): unknown => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const p = prune(x);
      if (typeof p === "object" && p !== null && !Array.isArray(p) && Object.keys(p).length === 0) continue;
      out[k] = p;
    }
    return out;
  };
  expect(prune(b)).toEqual(prune(a));
}

const V2_TABLE = ["plugins", "io.containerd.grpc.v1.cri", "registry", "config_path"];
const V3_TABLE = ["plugins", "io.containerd.cri.v1.images", "registry", "config_path"];

describe("config_path in the right table for each schema", () => {
  it("version 2: replaces an empty config_path in place, keeping comments and order", () => {
    const plan = render(LIVE_V2);
    expect(plan.action).toBe("restart");
    const after = plan.mainConfig!.content;
    expectOnlyChange(LIVE_V2, after, V2_TABLE, "/etc/containerd/certs.d");
    expect(after.replace('config_path = "/etc/containerd/certs.d"', 'config_path = ""')).toBe(LIVE_V2);
  });

  it("version 3 (containerd 2.x): adds the images registry table", () => {
    const after = render(LIVE_V3, V21).mainConfig!.content;
    expectOnlyChange(LIVE_V3, after, V3_TABLE, "/etc/containerd/certs.d");
    expect(after.startsWith(LIVE_V3)).toBe(true);
    expect(after).toContain("# keep this comment");
  });

  it("version 1 (no version line): uses plugins.cri.registry", () => {
    const after = render(LIVE_V1).mainConfig!.content;
    expectOnlyChange(LIVE_V1, after, ["plugins", "cri", "registry", "config_path"], "/etc/containerd/certs.d");
  });

  it("an explicit registry table without config_path gets the key right under its header", () => {
    const live =
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n    # comment\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "overlayfs"\n';
    const after = render(live).mainConfig!.content;
    expectOnlyChange(live, after, V2_TABLE, "/etc/containerd/certs.d");
    expect(after.split("\n")[2]).toBe('  config_path = "/etc/containerd/certs.d"');
  });

  it("a registry table defined by dotted keys gets a dotted config_path", () => {
    const live = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  registry.configs."r.example".auth.username = "u"\n';
    const after = render(live).mainConfig!.content;
    expectOnlyChange(live, after, V2_TABLE, "/etc/containerd/certs.d");
    expect(after).toContain('registry.config_path = "/etc/containerd/certs.d"');
  });

  it("a config_path with a trailing comment keeps the comment", () => {
    const live = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "" # "quoted # hash"\n';
    const after = render(live).mainConfig!.content;
    expect(after).toContain('config_path = "/etc/containerd/certs.d" # "quoted # hash"');
  });

  it("already right: no change, no restart", () => {
    const live = render(LIVE_V2).mainConfig!.content;
    const plan = render(live);
    expect(plan.mainConfig).toBeUndefined();
    expect(plan.action).toBe("none");
  });

  it("a mirrors-only change never restarts", () => {
    const live = render(LIVE_V2).mainConfig!.content;
    const plan = renderNodeConfig({ mirrors: [{ upstream: "gcr.io", endpoints: [{ url: "https://m.internal" }] }], runtime: V16, liveConfig: live });
    expect(plan.files.map((f) => f.path)).toEqual(["/etc/containerd/certs.d/gcr.io/hosts.toml"]);
    expect(plan.action).toBe("none");
  });

  it("keeps an existing single hosts directory so hosts.toml files already there keep working", () => {
    const live = LIVE_V2.replace('config_path = ""', 'config_path = "/etc/k8s/certs.d"');
    const plan = render(live);
    expect(plan.mainConfig).toBeUndefined();
    expect(plan.files[0].path).toBe("/etc/k8s/certs.d/docker.io/hosts.toml");
  });

  it("reduces a ':' list to its first directory, with a warning (containerd #12636)", () => {
    const live = LIVE_V3 + "\n[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = '/etc/containerd/certs.d:/etc/docker/certs.d'\n";
    const plan = render(live, V21);
    expectOnlyChange(live, plan.mainConfig!.content, V3_TABLE, "/etc/containerd/certs.d");
    expect(plan.warnings.join("\n")).toMatch(/several directories.*#12636/);
  });

  it("hostsDir: adopt keeps the directory config.toml names; fixed (the component's choice) moves it, with a warning", () => {
    const live = LIVE_V2.replace('config_path = ""', 'config_path = "/etc/k8s/certs.d"');
    const adopted = render(live, V16, { hostsDir: "adopt" });
    expect(adopted.mainConfig).toBeUndefined();
    expect(adopted.files.map((f) => f.path)).toEqual(["/etc/k8s/certs.d/docker.io/hosts.toml"]);
    const fixed = render(live, V16, { hostsDir: "fixed" });
    expectOnlyChange(live, fixed.mainConfig!.content, V2_TABLE, "/etc/containerd/certs.d");
    expect(fixed.files.map((f) => f.path)).toEqual(["/etc/containerd/certs.d/docker.io/hosts.toml"]);
    expect(fixed.warnings.join("\n")).toContain('config_path changes from "/etc/k8s/certs.d" to "/etc/containerd/certs.d"');
  });

  it("an EKS-style ':' list is reduced either way, and the warning names the directories whose files stop being read", () => {
    const live = LIVE_V2.replace('config_path = ""', 'config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"');
    for (const hostsDir of ["adopt", "fixed"] as const) {
      const plan = render(live, V16, { hostsDir });
      expectOnlyChange(live, plan.mainConfig!.content, V2_TABLE, "/etc/containerd/certs.d");
      expect(plan.warnings.join("\n")).toContain('lists several directories; it becomes "/etc/containerd/certs.d"');
      expect(plan.warnings.join("\n")).toContain("Move hosts.toml files from /etc/docker/certs.d into /etc/containerd/certs.d");
      expect(plan.warnings.join("\n")).not.toContain("config_path changes from");
    }
    // A list that does not hold the fixed directory: every listed one stops being read.
    const other = render(LIVE_V2.replace('config_path = ""', 'config_path = "/a:/b"'), V16, { hostsDir: "fixed" });
    expect(other.warnings.join("\n")).toContain("Move hosts.toml files from /a, /b into /etc/containerd/certs.d");
  });

  it("paths.hostsDir moves config_path and warns that the old directory stops being read", () => {
    const live = LIVE_V2.replace('config_path = ""', 'config_path = "/etc/k8s/certs.d"');
    const plan = render(live, V16, { paths: { hostsDir: "/opt/certs.d" } });
    expectOnlyChange(live, plan.mainConfig!.content, V2_TABLE, "/opt/certs.d");
    expect(plan.warnings.join("\n")).toContain('"/etc/k8s/certs.d" to "/opt/certs.d"');
  });

  it("no config.toml on the node: writes a minimal one with a version line", () => {
    const v2 = render("", V16).mainConfig!.content;
    expect(parse(v2)).toEqual({ version: 2, plugins: { "io.containerd.grpc.v1.cri": { registry: { config_path: "/etc/containerd/certs.d" } } } });
    const v3 = render("", V21).mainConfig!.content;
    expect(parse(v3)).toEqual({ version: 3, plugins: { "io.containerd.cri.v1.images": { registry: { config_path: "/etc/containerd/certs.d" } } } });
  });

  it("config.toml not read: leaves it alone and says what it must contain", () => {
    const plan = render(undefined);
    expect(plan.mainConfig).toBeUndefined();
    expect(plan.warnings.join("\n")).toContain('config_path = "/etc/containerd/certs.d"');
  });

  it("warns when imports may override config_path", () => {
    const live = `imports = ["/etc/containerd/conf.d/*.toml"]\n${LIVE_V2}`;
    expect(render(live).warnings.join("\n")).toMatch(/imports.*replaces whole plugin tables/);
  });

  it("warns about version 2 registry keys in a version 3 file (containerd ignores them)", () => {
    const live = `${LIVE_V3}\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/x"\n`;
    expect(render(live, V21).warnings.join("\n")).toContain("containerd 2.x ignores");
  });
});

describe("refuses what containerd cannot load", () => {
  it("a version 3 file on containerd 1.x", () => {
    expect(problemsOf(() => render(LIVE_V3, V16))[0].message).toMatch(/version = 3.*containerd 1.6.20 cannot read/);
  });

  it("a version 1 file on containerd 2.x", () => {
    expect(problemsOf(() => render(LIVE_V1, V21))[0].message).toMatch(/containerd config migrate/);
  });

  it("a file that does not parse", () => {
    expect(problemsOf(() => render("version = 2\n[plugins\n"))[0]).toMatchObject({
      path: "liveConfig",
      message: expect.stringMatching(/does not parse/),
    });
  });

  it("legacy mirrors by default: lists them and both ways out", () => {
    const [problem] = problemsOf(() => render(LIVE_LEGACY));
    expect(problem.path).toBe("legacy");
    expect(problem.message).toContain('mirrors."quay.io"');
    expect(problem.message).toContain('configs."quay-mirror.internal:8443".tls');
    expect(problem.message).toContain('legacy: "migrate"');
    expect(problem.message).toContain('legacy: "write"');
  });

  it("legacy write: says what the deprecated format cannot express, all at once", () => {
    const problems = problemsOf(() =>
      renderNodeConfig({
        runtime: V21,
        liveConfig: "version = 3\n",
        legacy: "write",
        mirrors: [
          {
            upstream: "docker.io",
            fallback: false,
            endpoints: [{ url: "https://m.internal", caCert: undefined, skipVerify: true, headers: { "X-A": "b" } }],
          },
        ],
      }),
    );
    expect(problems.map((p) => p.path)).toEqual(["mirrors[0].fallback", "mirrors[0].endpoints[0].headers", "mirrors[0].endpoints[0]"]);
    expect(problems[2].message).toContain("removed configs.*.tls");
  });

  it("legacy write: configs.<host>.tls names the certificate files the plan writes beside hosts.toml, per endpoint host", () => {
    const plan = renderNodeConfig({
      runtime: V16,
      liveConfig: LIVE_V2,
      legacy: "write",
      mirrors: [
        { upstream: "docker.io", endpoints: [{ url: "https://m.internal:5000", caCert: CA, clientCert: CLIENT_CERT, clientKey: CLIENT_KEY }] },
        {
          upstream: "quay.io",
          endpoints: [
            { url: "https://q.internal", skipVerify: true },
            { url: "https://q2.internal", caCert: CA },
          ],
        },
      ],
    });
    const dir = "/etc/containerd/certs.d";
    expect(plan.files.map((f) => [f.path, f.mode, f.secret ?? false])).toEqual([
      [`${dir}/docker.io/m.internal_5000.ca.crt`, 0o644, false],
      [`${dir}/docker.io/m.internal_5000.client.cert`, 0o644, false],
      [`${dir}/docker.io/m.internal_5000.client.key`, 0o600, true],
      [`${dir}/quay.io/q2.internal.ca.crt`, 0o644, false],
    ]);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a deep walk into a parsed document
    const configs = (parse(plan.mainConfig!.content) as any).plugins["io.containerd.grpc.v1.cri"].registry.configs;
    expect(configs).toEqual({
      "m.internal:5000": {
        tls: {
          ca_file: `${dir}/docker.io/m.internal_5000.ca.crt`,
          cert_file: `${dir}/docker.io/m.internal_5000.client.cert`,
          key_file: `${dir}/docker.io/m.internal_5000.client.key`,
        },
      },
      "q.internal": { tls: { insecure_skip_verify: true } },
      "q2.internal": { tls: { ca_file: `${dir}/quay.io/q2.internal.ca.crt` } },
    });
  });

  it("legacy write next to a config_path", () => {
    const live = LIVE_V2.replace('config_path = ""', 'config_path = "/etc/containerd/certs.d"');
    expect(problemsOf(() => render(live, V16, { legacy: "write" }))[0].message).toMatch(/cannot be used together/);
  });
});

describe("legacy migrate", () => {
  const plan = renderNodeConfig({ mirrors: MIRRORS, runtime: V16, liveConfig: LIVE_LEGACY, legacy: "migrate" });

  it("removes mirrors and configs.*.tls, keeps configs.*.auth, sets config_path", () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a deep walk into a parsed document
    const after = parse(plan.mainConfig!.content) as any;
    const registry = after.plugins["io.containerd.grpc.v1.cri"].registry;
    expect(registry.mirrors).toBeUndefined();
    expect(registry.configs["quay-mirror.internal:8443"]).toEqual({ auth: { username: "robot", password: "token" } });
    expect(registry.config_path).toBe("/etc/containerd/certs.d");
  });

  it("writes the legacy mirror as hosts.toml with its TLS settings, the upstream as server", () => {
    const quay = plan.files.find((f) => f.path === "/etc/containerd/certs.d/quay.io/hosts.toml")!;
    expect(parse(quay.content)).toEqual({
      server: "https://quay.io",
      host: { "https://quay-mirror.internal:8443": { capabilities: ["pull", "resolve"], ca: ["/etc/pki/quay-mirror-ca.pem"], skip_verify: false } },
    });
  });

  it.each([
    ["../../../etc/cron.d", /contains "\/"|without a path/],
    ["quay.io/ns", /without a path/],
    ["my registry.io", /whitespace/],
    ["reg", /no "\." or port/],
  ])("refuses to migrate a legacy entry named %j: its name is a directory under the hosts directory", (name, why) => {
    const live = LIVE_LEGACY.replace('mirrors."quay.io"]', `mirrors.${JSON.stringify(name)}]`);
    const [problem] = problemsOf(() => renderNodeConfig({ mirrors: [], runtime: V16, liveConfig: live, legacy: "migrate" }));
    expect(problem.path).toBe("liveConfig");
    expect(problem.message).toContain(`legacy mirror "${name}" cannot be migrated to a hosts directory`);
    expect(problem.message).toMatch(why);
  });

  it("puts a legacy entry where containerd looks: lower-cased, Docker Hub under any name in docker.io", () => {
    const live = LIVE_LEGACY.replace('mirrors."quay.io"]', 'mirrors."Index.Docker.IO"]');
    const migrated = renderNodeConfig({ mirrors: [], runtime: V16, liveConfig: live, legacy: "migrate" });
    expect(migrated.files.map((f) => f.path)).toEqual(["/etc/containerd/certs.d/docker.io/hosts.toml"]);
  });
});
