/**
 * The CLI as a user runs it: the package is built once, then `npx --no-install registry-mirrors …` runs from the
 * package's root (npx resolves the package's own `bin` entry, dist/cli/index.js). The build goes to a copy of the
 * package (package.json, dist, node_modules linked) rather than the repository's dist/: other unit tests run
 * `npm run build`, which removes dist/ while this file may be running. The copy gets the bin's execute bit, as
 * `npm install` sets it (a fresh tsc output has none). Covers every command, --help, the exit codes (0 done,
 * 1 problems with the input, 2 usage) and bad input.
 */
import { execFileSync, spawnSync } from "child_process";
import { chmodSync, copyFileSync, cpSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { parse } from "yaml";

const ROOT = join(__dirname, "../..");
const GOLDEN = join(__dirname, "../convert/golden");
let work: string;
let pkg: string;

/** Runs the installed command; returns exit code, stdout and stderr. */
function cli(...args: string[]) {
  const r = spawnSync("npx", ["--no-install", "registry-mirrors", ...args], { cwd: pkg, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function write(name: string, text: string): string {
  const file = join(work, name);
  writeFileSync(file, text);
  return file;
}

const OLD = `mirrors:
  - upstream: docker.io
    endpoints:
      - url: https://harbor.example.com/v2/dockerhub
  - upstream: gcr.io
    fallback: false
    endpoints:
      - url: https://mirror.internal:5000
`;
const NEW = `mirrors:
  - upstream: docker.io
    endpoints:
      - url: https://harbor.example.com/v2/dockerhub
      - url: https://mirror.gcr.io
  - upstream: quay.io
    endpoints:
      - url: https://quay-cache.internal
        auth: { username: robot, password: s3cret-token }
`;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "registry-mirrors-cli-"));
  pkg = mkdtempSync(join(tmpdir(), "registry-mirrors-pkg-"));
  // What `npm run build` makes (tsconfig.build.json, then the node agent's shell files), in the copy of the package.
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json", "--outDir", join(pkg, "dist")], { cwd: ROOT, stdio: "pipe" });
  cpSync(join(ROOT, "src/node/agent"), join(pkg, "dist/node/agent"), { recursive: true });
  copyFileSync(join(ROOT, "package.json"), join(pkg, "package.json"));
  symlinkSync(join(ROOT, "node_modules"), join(pkg, "node_modules"));
  const { bin } = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")) as { bin: Record<string, string> };
  chmodSync(join(pkg, bin["registry-mirrors"]), 0o755);
}, 180_000);

describe("the bin", () => {
  it("is the built file with a node shebang", () => {
    const { bin } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { bin: Record<string, string> };
    expect(bin["registry-mirrors"]).toBe("dist/cli/index.js");
    expect(readFileSync(join(pkg, bin["registry-mirrors"]), "utf8").split("\n")[0]).toBe("#!/usr/bin/env node");
  });

  it.each(["", "validate", "render", "diff", "import", "export"])("prints help for %p with --help and exits 0", (command) => {
    const r = cli(...(command ? [command] : []), "--help");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^Usage: registry-mirrors ${command || "<command>"}`));
  });

  it("exits 2 with a pointer to --help for no command, an unknown command, an unknown option or a missing argument", () => {
    for (const args of [[], ["bogus"], ["validate", "--bogus", "x.yaml"], ["validate"], ["render", join(work, "x.yaml")]]) {
      const r = cli(...args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/--help|Usage:/);
    }
  });
});

describe("validate", () => {
  it("says ok for a valid spec (YAML and JSON)", () => {
    expect(cli("validate", write("ok.yaml", OLD))).toMatchObject({ code: 0, out: expect.stringContaining("ok:") });
    const json = write("ok.json", JSON.stringify(parse(NEW)));
    expect(cli("validate", json).code).toBe(0);
  });

  it("exits 1 with one line per problem, each with its field path", () => {
    const bad = write(
      "bad.yaml",
      "mirrors:\n  - upstream: https://docker.io\n    endpoints:\n      - url: mirror.internal\n  - upstream: gcr.io\n    endpoint: []\nextra: 1\n",
    );
    const r = cli("validate", bad);
    expect(r.code).toBe(1);
    const lines = r.err.trimEnd().split("\n");
    expect(lines.map((l) => l.replace(`error: ${bad}: `, "").split(":")[0])).toEqual([
      "extra",
      "mirrors[0].upstream",
      "mirrors[0].endpoints[0].url",
      "mirrors[1].endpoint",
      "mirrors[1].endpoints",
    ]);
  });

  it("exits 1 for a file that is missing, not YAML, or not a map", () => {
    for (const [file, message] of [
      [join(work, "missing.yaml"), "does not exist"],
      [write("broken.yaml", "mirrors: [\n"), "is not valid YAML"],
      [write("list.yaml", "- a\n"), "must be a map holding mirrors"],
      [write("broken.json", "{"), "is not valid JSON"],
    ]) {
      const r = cli("validate", file);
      expect(r.code).toBe(1);
      expect(r.err).toContain(message);
      expect(r.err.trimEnd().split("\n")).toHaveLength(1);
    }
  });
});

describe("render", () => {
  it("prints every file with its path, masking secrets", () => {
    const r = cli("render", write("new.yaml", NEW), "--runtime", "containerd@2.0");
    expect(r.code).toBe(0);
    expect(r.out).toContain("==> /etc/containerd/certs.d/docker.io/hosts.toml (mode 644)");
    expect(r.out).toContain('[host."https://mirror.gcr.io"]');
    expect(r.out).toMatch(/==> \/etc\/containerd\/certs.d\/quay.io\/hosts.toml \(mode 600, secret\)\n\(secret: \d+ bytes, sha256 [0-9a-f]{16}…/);
    expect(r.out).not.toContain(Buffer.from("robot:s3cret-token").toString("base64"));
  });

  it("shows the edit of the live config.toml and writes a directory with --out", () => {
    const live = write("config.toml", 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n');
    const out = join(work, "out");
    expect(cli("render", join(work, "new.yaml"), "--runtime", "containerd@1.7", "--live", live).out).toContain(
      "==> /etc/containerd/config.toml (mode 644, main config)",
    );
    const r = cli("render", join(work, "new.yaml"), "--runtime", "containerd@1.7", "--live", live, "--out", out);
    expect(r.code).toBe(0);
    expect(readFileSync(join(out, "etc/containerd/config.toml"), "utf8")).toContain('config_path = "/etc/containerd/certs.d"');
    expect(statSync(join(out, "etc/containerd/certs.d/quay.io/hosts.toml")).mode & 0o777).toBe(0o600);
  });

  it("renders a k3s node's registries.yaml, merged into --live, and diffs it for review", () => {
    const spec = write("k3s.yaml", "mirrors:\n  - upstream: docker.io\n    endpoints:\n      - url: https://harbor.example.com/v2/dockerhub\n");
    const r = cli("render", spec, "--runtime", "k3s@1.31");
    expect(r.code).toBe(0);
    expect(r.out).toContain("==> /etc/rancher/k3s/registries.yaml (mode 644, main config)");
    expect(r.out).toContain("https://harbor.example.com/v2/dockerhub");
    const live = write("registries.yaml", "mirrors:\n  registry.corp:\n    endpoint: [https://corp.mirror]\n");
    const other = write("k3s-new.yaml", "mirrors:\n  - upstream: docker.io\n    endpoints:\n      - url: https://harbor2.example.com\n");
    const d = cli("diff", spec, other, "--runtime", "k3s@1.31", "--live", live);
    expect(d.code).toBe(0);
    expect(d.out).toContain("--- a/etc/rancher/k3s/registries.yaml");
    expect(d.out).toContain("-      - https://harbor.example.com/v2/dockerhub\n+      - https://harbor2.example.com");
    const strict = write(
      "k3s-strict.yaml",
      "mirrors:\n  - upstream: docker.io\n    endpoints: [{ url: https://a.example }]\n  - upstream: gcr.io\n    fallback: false\n    endpoints: [{ url: https://b.example }]\n",
    );
    expect(cli("render", strict, "--runtime", "rke2@1.31").err).toMatch(/mirrors\[1\]\.fallback: registries.yaml cannot stop the fallback/);
  });

  it("exits 1 naming the field a runtime cannot express, 2 for an unknown runtime", () => {
    const r = cli("render", join(work, "new.yaml"), "--runtime", "docker@24.0");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/mirrors\[1\]\.upstream/);
    expect(cli("render", join(work, "new.yaml"), "--runtime", "rkt").code).toBe(2);
    expect(cli("render", join(work, "new.yaml"), "--runtime", "containerd@two").code).toBe(2);
  });
});

describe("diff", () => {
  it("prints a git-style unified diff of every file that changes, and nothing for equal specs", () => {
    const oldFile = write("old.yaml", OLD);
    const r = cli("diff", oldFile, join(work, "new.yaml"), "--runtime", "containerd@2.0");
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      [
        "diff --git a/etc/containerd/certs.d/docker.io/hosts.toml b/etc/containerd/certs.d/docker.io/hosts.toml",
        "--- a/etc/containerd/certs.d/docker.io/hosts.toml",
        "+++ b/etc/containerd/certs.d/docker.io/hosts.toml",
      ].join("\n"),
    );
    expect(r.out).toContain('+[host."https://mirror.gcr.io"]');
    expect(r.out).toContain("deleted file mode 644\n--- a/etc/containerd/certs.d/gcr.io/hosts.toml\n+++ /dev/null");
    expect(r.out).toContain("new file mode 600\n--- /dev/null\n+++ b/etc/containerd/certs.d/quay.io/hosts.toml");
    expect(r.out).not.toContain("s3cret");
    expect(cli("diff", oldFile, oldFile, "--runtime", "containerd@2.0")).toMatchObject({ code: 0, out: "" });
  });

  it("reports the problems of both specs at once", () => {
    const bad1 = write("bad1.yaml", "mirrors:\n  - upstream: docker.io\n    endpoints: []\n");
    const bad2 = write("bad2.yaml", "mirrors: 3\n");
    const r = cli("diff", bad1, bad2, "--runtime", "cri-o");
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${bad1}: mirrors[0].endpoints`);
    expect(r.err).toContain(`${bad2}: mirrors:`);
  });
});

describe("import and export", () => {
  it("imports a format to a YAML spec on stdout, notes on stderr, reading referenced files relative to the source", () => {
    const r = cli("import", "k3s", join(GOLDEN, "import-k3s-docs-rewrite-wildcard/input.yaml"));
    expect(r.code).toBe(0);
    expect(parse(r.out).mirrors[1]).toEqual({ upstream: "quay.io", endpoints: [{ url: "https://harbor.example.com/v2/quay-proxy" }] });
    expect(r.err).toContain("note: ");
    expect(r.err).toContain('mirrors."docker.io".rewrite."^rancher/(.*)"');
    const dir = cli("import", "certs-d", join(GOLDEN, "import-certs-d-hosts-md/input"));
    expect(dir.code).toBe(0);
    expect(parse(dir.out).mirrors.map((m: { upstream: string }) => m.upstream)).toEqual(["*", "docker.io", "registry.local:5000"]);
    // The imported spec is valid input for every other command.
    expect(cli("validate", write("imported.yaml", dir.out)).code).toBe(0);
  });

  it("exits 2 for an unknown format or a directory where a file is read; 1 for an invalid source", () => {
    expect(cli("import", "helm", join(work, "old.yaml")).code).toBe(2);
    expect(cli("import", "k3s", work).code).toBe(2);
    expect(cli("import", "certs-d", join(work, "old.yaml")).code).toBe(2);
    const r = cli("import", "gardener", write("gardener.yaml", "kind: MirrorConfig\nmirrors:\n  - upstream: docker.io\n    hosts: []\n"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("mirrors[0].hosts: at least one host must be provided");
  });

  it("exports a spec, and names our field for what the format cannot express", () => {
    const r = cli("export", "gardener", join(work, "old.yaml"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("mirrors[1].fallback: Gardener always falls back");
    const ok = cli("export", "talos", join(work, "old.yaml"));
    expect(ok.code).toBe(0);
    expect(parse(ok.out).machine.registries.mirrors["gcr.io"]).toEqual({ endpoints: ["https://mirror.internal:5000"], skipFallback: true });
  });

  it("writes a k3s registries.yaml and its certificate files with --out, and imports it back", () => {
    const spec = join(GOLDEN, "export-k3s-private-ca/spec.yaml");
    const printed = cli("export", "k3s", spec);
    expect(printed.code).toBe(0);
    expect(printed.err).toContain("is not printed; pass --out <dir> to write it");
    const out = join(work, "k3s");
    expect(cli("export", "k3s", spec, "--out", out).code).toBe(0);
    expect(statSync(join(out, "registries.yaml")).mode & 0o777).toBe(0o600);
    expect(statSync(join(out, "etc/rancher/k3s/registry-mirrors/mirror-a.internal_8443/client.key")).mode & 0o777).toBe(0o600);
    // The files are under <out>/etc/…, as on the node: --root reads the absolute paths there.
    const back = cli("import", "k3s", join(out, "registries.yaml"), "--root", out);
    expect(back).toMatchObject({ code: 0, err: "" });
    expect(parse(back.out).mirrors[1].endpoints[0].clientKey).toContain("BEGIN PRIVATE KEY");
  });
});
