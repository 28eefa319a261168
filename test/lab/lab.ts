/**
 * The real-node test lab: N SSH nodes (each in its own mount namespace, with its own containerd 1.6/2.x or a
 * CRI-O-style set-up), real registries (upstream under public names, pull-through mirrors) and small local images,
 * all on 127.0.0.1, all under one directory. See test/lab/README.md.
 *
 * ```ts
 * const lab = await startLab({ nodes: 4, log: console.log });
 * try {
 *   const img = await lab.pushImage("library/hello", "t1");
 *   await lab.exec("node1", "systemctl restart containerd");
 *   const { repoDigest } = await lab.criPull("node1", img.ref);
 * } finally {
 *   await lab.stop();
 * }
 * ```
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { writeOciLayout } from "./oci";
import { makeCa, makeServerCert } from "./pki";
import {
  FatalWaitError,
  freePort,
  startTimeOf,
  labProcesses,
  isAlive,
  labEnv,
  LAB_MARKER,
  LAB_PATH,
  portBindable,
  portOpen,
  readPid,
  run,
  runOk,
  RunOptions,
  spawnRecorded,
  StopReport,
  stopLabDirSync,
  waitFor,
} from "./proc";
import {
  AUTH_MIRROR_NAME,
  bootScript,
  containerdConfig,
  crictlYaml,
  crioConfig,
  CRIO_POLICY,
  journalctlScript,
  K3S_SOCKET,
  k3sScript,
  isRancher,
  runtimeUnit,
  nodeHosts,
  NodePaths,
  put,
  ResolvedNodeSpec,
  resolveSpecs,
  serviceScript,
  sshdConfig,
  systemctlScript,
  UPSTREAM_NAMES,
} from "./node";
import { nginxDirs, nginxFrontsConf, nginxUpstreamConf, NS_PREFIX, parseAccessLine, registryConfig } from "./registries";
import type {
  CriPullResult,
  ExecResult,
  LabDescription,
  LabOptions,
  NodeDescription,
  PushedImage,
  RegistryDescription,
  RegistryName,
  RegistryRequest,
  SystemctlCall,
} from "./types";

export * from "./types";
export { stopLabDirSync } from "./proc";

/** Repository root (…/test/lab/../..). */
const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** Where the Go tools (containerd2, ctr2, crictl) are built by scripts/tools.sh; `REGMIRROR_TOOLS_BIN` overrides. */
export function toolsBin(): string {
  return process.env.REGMIRROR_TOOLS_BIN ?? path.join(REPO_ROOT, ".tools", "bin");
}

/** Description file inside a lab dir. */
export const DESCRIPTION_FILE = "lab.json";

/** A node given by name or by its description. */
export type NodeRef = string | NodeDescription;

/** The user name and fixed password of the unprivileged lab user. */
export const LAB_USER = "lab";
const LAB_USER_PASSWORD = "lab-sudo-password";

/** Verbs that count as a restart in {@link Lab.restartCount}. */
export const RESTART_VERBS = ["restart", "try-restart", "condrestart", "reload-or-restart", "try-reload-or-restart", "force-reload"];

// ---------------------------------------------------------------------------------------------------------------
// exit handling: every lab started with stopOnExit is stopped when the process goes away

const liveLabs = new Set<string>();
let handlersInstalled = false;

function onExit(): void {
  for (const dir of [...liveLabs]) {
    liveLabs.delete(dir);
    try {
      stopLabDirSync(dir, { graceMs: 3000 });
    } catch {
      /* best effort at exit */
    }
  }
}

function onSignal(sig: NodeJS.Signals): void {
  onExit();
  process.removeListener(sig, onSignal);
  process.kill(process.pid, sig);
}

function registerForExit(dir: string): void {
  liveLabs.add(dir);
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", onExit);
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as NodeJS.Signals[]) process.once(s, onSignal);
}

// ---------------------------------------------------------------------------------------------------------------

function which(bin: string): string | undefined {
  for (const d of LAB_PATH.split(":")) {
    const p = path.join(d, bin);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

function httpStatus(url: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => {
      req.destroy();
      resolve(0);
    });
    req.on("error", () => resolve(0));
  });
}

function groupId(name: string): number {
  for (const line of fs.readFileSync("/etc/group", "utf8").split("\n")) {
    const f = line.split(":");
    if (f[0] === name) return parseInt(f[2], 10);
  }
  return 0;
}

function freeUid(): number {
  const used = new Set<number>();
  for (const f of ["/etc/passwd", "/etc/group"]) {
    for (const line of fs.readFileSync(f, "utf8").split("\n")) used.add(parseInt(line.split(":")[2], 10));
  }
  let uid = 4242;
  while (used.has(uid)) uid++;
  return uid;
}

/**
 * Start a lab. Resolves when every node answers (sshd listening, containerd socket answering) and every registry is
 * up; rejects (after cleaning up everything it started) otherwise, within `timeoutMs`.
 */
export async function startLab(options: LabOptions = {}): Promise<Lab> {
  let t0 = Date.now();
  const log = options.log ?? (() => undefined);
  const step = (s: string) => log(`[lab +${((Date.now() - t0) / 1000).toFixed(2)}s] ${s}`);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const specs = resolveSpecs(options.nodes);

  // --- preconditions (before anything is created)
  const tools = toolsBin();
  const need = [
    "sshd",
    "ssh",
    "ssh-keygen",
    "unshare",
    "nsenter",
    "setsid",
    "containerd",
    "ctr",
    "docker-registry",
    "skopeo",
    "nginx",
    "openssl",
    "htpasswd",
    "timeout",
  ];
  if (specs.some((s) => s.user === "lab")) need.push("sudo");
  const missing = need.filter((b) => !which(b));
  if (missing.length) throw new Error(`lab: missing programs ${missing.join(", ")} (install the Debian packages listed in test/lab/README.md)`);
  if (specs.some((s) => s.runtime === "containerd2")) {
    for (const b of ["containerd2", "ctr2"]) {
      if (!fs.existsSync(path.join(tools, b))) {
        throw new Error(`lab: containerd 2.x node requested but ${path.join(tools, b)} is missing (build it with scripts/tools.sh)`);
      }
    }
  }
  if (specs.some((s) => s.runtime === "crio")) {
    for (const b of ["crio", "pinns"]) {
      if (!fs.existsSync(path.join(tools, b)))
        throw new Error(`lab: a CRI-O node was requested but ${path.join(tools, b)} is missing (build it with scripts/tools.sh crio)`);
    }
    for (const b of ["conmon", "runc"]) if (!which(b)) throw new Error(`lab: a CRI-O node needs ${b} (apt install conmon runc)`);
  }
  if (specs.some((s) => s.runtime === "docker") && !which("dockerd")) throw new Error("lab: a Docker node needs dockerd (apt install docker.io)");
  const crictl = path.join(tools, "crictl");
  if (!fs.existsSync(crictl)) log(`[lab] warning: ${crictl} is missing: lab.criPull() will fail (build it with scripts/tools.sh)`);
  await waitForPort443(options.waitForOtherLabMs ?? 300_000, log);
  t0 = Date.now(); // start-up time does not count the wait for another lab

  // --- the lab dir
  let dir: string;
  if (options.dir) {
    fs.mkdirSync(options.dir, { recursive: true });
    if (fs.readdirSync(options.dir).length > 0) throw new Error(`lab: ${options.dir} is not empty`);
    dir = fs.realpathSync(options.dir);
  } else {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "regmirror-lab-")));
  }
  fs.chmodSync(dir, 0o755); // the unprivileged lab user must reach its home and the node files
  if (options.stopOnExit !== false) {
    registerForExit(dir);
    // the owner: if it dies without its exit handler (SIGKILL), the next lab cleans this one up
    fs.writeFileSync(path.join(dir, OWNER_FILE), JSON.stringify({ pid: process.pid, start: startTimeOf(process.pid) }) + "\n");
  }
  step(`dir ${dir}`);

  // Nodes see /tmp (and so a checkout under /tmp) replaced by their own: the tools they run are copied into the
  // lab dir, which every node can reach at its own path.
  const labTools = path.join(dir, "tools");
  fs.mkdirSync(labTools);
  const wanted = ["containerd2", "ctr2", "crictl", ...(specs.some((s) => s.runtime === "crio") ? ["crio", "pinns"] : [])];
  for (const b of wanted) {
    if (!fs.existsSync(path.join(tools, b))) continue;
    // A hard link where the lab dir is on the same file system (crio is 100 MB), else a copy.
    try {
      fs.linkSync(path.join(tools, b), path.join(labTools, b));
    } catch {
      fs.copyFileSync(path.join(tools, b), path.join(labTools, b));
    }
    fs.chmodSync(path.join(labTools, b), 0o755);
  }
  // The k3s/RKE2 stand-in (Node.js) and the YAML library it parses registries.yaml with, for the same reason.
  if (specs.some((s) => isRancher(s.runtime))) {
    fs.copyFileSync(path.join(__dirname, "k3s-stand-in.js"), path.join(labTools, "k3s-stand-in.js"));
    fs.cpSync(path.dirname(require.resolve("yaml/package.json")), path.join(labTools, "node_modules", "yaml"), { recursive: true });
  }

  const building = buildLab(dir, specs, labTools, step, t0);
  let timer: NodeJS.Timeout | undefined;
  try {
    const lab = await Promise.race([
      building,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`lab: start-up took more than ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    step(`ready: ${specs.length} nodes in ${lab.describe().startupMs} ms`);
    return lab;
  } catch (e) {
    clearTimeout(timer);
    liveLabs.delete(dir);
    // On a time-out the build may still be spawning: stop now, let it settle (its waits are bounded), stop again.
    stopLabDirSync(dir, { keepDir: true });
    await Promise.race([building.catch(() => undefined), new Promise((r) => setTimeout(r, 60_000).unref())]);
    const report = stopLabDirSync(dir, { keepDir: !!process.env.REGMIRROR_LAB_KEEP });
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`${msg}\n(lab cleaned up: ${report.signalled} processes stopped, dir ${report.removed ? "removed" : "kept: " + dir})`);
  }
}

/** `DIR/owner.json`: the process whose exit stops the lab (absent for labs started by the CLI). */
export const OWNER_FILE = "owner.json";

/** True if the lab in `dir` has an owner process that is gone (killed without running its exit handler). */
export function isOrphanLab(dir: string): boolean {
  try {
    const o = JSON.parse(fs.readFileSync(path.join(dir, OWNER_FILE), "utf8")) as { pid: number; start?: number };
    return !isAlive(o.pid) || (o.start !== undefined && startTimeOf(o.pid) !== o.start);
  } catch {
    return false;
  }
}

/** Lab dirs in os.tmpdir() (`regmirror-lab-*`). */
export function tmpLabDirs(): string[] {
  const tmp = os.tmpdir();
  try {
    return fs
      .readdirSync(tmp)
      .filter((n) => n.startsWith("regmirror-lab-"))
      .map((n) => path.join(tmp, n));
  } catch {
    return [];
  }
}

/**
 * Other labs that still have live processes: lab dirs in os.tmpdir(), plus any lab elsewhere (e.g. started by the
 * CLI with --dir) whose upstream front (`nginx -p DIR/nginx/upstream`) is running.
 */
export function otherLiveLabs(exceptDir?: string): string[] {
  const dirs = new Set(tmpLabDirs());
  for (const pid of fs.readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const m = /nginx -p (\S+)\/nginx\/upstream /.exec(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " "));
      if (m) dirs.add(m[1]);
    } catch {
      /* gone */
    }
  }
  return [...dirs].filter((d) => d !== exceptDir && labProcesses(d).length > 0);
}

/**
 * The upstream front needs 127.0.0.1:443, so only one lab runs at a time on a machine. If another lab holds it (or
 * is alive, e.g. between upstreamDown() and upstreamUp()), wait for it to stop, at most `waitMs`; if anything else
 * holds the port, fail at once.
 */
async function waitForPort443(waitMs: number, log: (s: string) => void): Promise<void> {
  const deadline = Date.now() + waitMs;
  let said = false;
  for (;;) {
    for (const o of tmpLabDirs()) {
      if (isOrphanLab(o)) {
        log(`[lab] stopping orphaned lab ${o} (the process that started it is gone)`);
        stopLabDirSync(o);
      }
    }
    const others = otherLiveLabs();
    const free = await portBindable(443);
    if (free && others.length === 0) return;
    if (!free && others.length === 0) {
      const who = await run("ss", ["-Hltnp", "sport = :443"], { timeoutMs: 5000 }).catch(() => undefined);
      throw new Error(
        `lab: 127.0.0.1:443 is taken by something that is not a lab; the upstream front needs it.` +
          (who?.stdout.trim() ? ` Listener: ${who.stdout.trim()}` : ""),
      );
    }
    if (Date.now() > deadline) {
      throw new Error(
        `lab: another lab (${others.join(", ")}) still runs after ${waitMs} ms; only one lab can hold 127.0.0.1:443. Stop it with: npx ts-node test/lab/cli.ts stop --dir DIR`,
      );
    }
    if (!said) {
      log(`[lab] waiting (at most ${waitMs / 1000} s) for another lab to stop: ${others.join(", ")}`);
      said = true;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function buildLab(dir: string, specs: ResolvedNodeSpec[], tools: string, step: (s: string) => void, t0: number): Promise<Lab> {
  const ports = new Set<number>([443]);
  const port = () => freePort(ports);
  for (const d of ["pids", "keys", "pki", "logs", "registries", "nginx", "images", "nodes", "tmp"])
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.chmodSync(path.join(dir, "tmp"), 0o1777);

  // --- keys and certificates, in parallel
  const keyDir = path.join(dir, "keys");
  const clientKey = path.join(keyDir, "client_ed25519");
  const pkiDir = path.join(dir, "pki");
  const [, publicCa, privateCa] = await Promise.all([
    runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "registry-mirrors-lab-client", "-f", clientKey], { timeoutMs: 20_000 }),
    makeCa(pkiDir, "public-ca", "registry-mirrors lab public CA"),
    makeCa(pkiDir, "private-ca", "registry-mirrors lab private mirror CA"),
    ...specs.map((s) => {
      const nd = path.join(dir, "nodes", s.name);
      fs.mkdirSync(nd, { recursive: true });
      return runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `lab-${s.name}`, "-f", path.join(nd, "ssh_host_ed25519_key")], {
        timeoutMs: 20_000,
      });
    }),
  ]);
  const [upstreamCert, authCert] = await Promise.all([
    makeServerCert(pkiDir, "upstream", publicCa, [...UPSTREAM_NAMES, "localhost"]),
    makeServerCert(pkiDir, "auth-mirror", privateCa, [AUTH_MIRROR_NAME, "localhost"]),
  ]);
  const username = "labuser";
  const password = crypto.randomBytes(9).toString("base64url");
  const htpasswd = path.join(pkiDir, "htpasswd");
  fs.writeFileSync(htpasswd, await runOk("htpasswd", ["-nbm", username, password], { timeoutMs: 10_000 }));
  step("keys and certificates");

  // --- registries: upstream backend first (the pull-through mirrors panic if it does not answer)
  const upPort = await port();
  const mirrorBackendPort = await port();
  const authBackendPort = await port();
  const mirrorPort = await port();
  const authPort = await port();
  const nsPort = await port();
  const regDir = (n: string) => path.join(dir, "registries", n);
  const startRegistry = (name: string, p: number, remote?: string) => {
    fs.mkdirSync(path.join(regDir(name), "data"), { recursive: true });
    const cfg = path.join(regDir(name), "config.yml");
    fs.writeFileSync(cfg, registryConfig(path.join(regDir(name), "data"), p, remote));
    spawnRecorded(dir, `registry-${name}`, "docker-registry", ["serve", cfg], path.join(regDir(name), "registry.log"));
    return waitFor(`docker-registry ${name} on 127.0.0.1:${p}`, async () => (await httpStatus(`http://127.0.0.1:${p}/v2/`)) === 200, 20_000);
  };
  const logs = {
    upstream: path.join(dir, "logs", "upstream.access.log"),
    mirror: path.join(dir, "logs", "mirror.access.log"),
    "auth-mirror": path.join(dir, "logs", "auth-mirror.access.log"),
    "ns-mirror": path.join(dir, "logs", "ns-mirror.access.log"),
  } satisfies Record<RegistryName, string>;
  for (const f of Object.values(logs)) fs.writeFileSync(f, "");

  const registriesReady = (async () => {
    await startRegistry("upstream", upPort);
    const backend = `http://127.0.0.1:${upPort}`;
    await Promise.all([startRegistry("mirror", mirrorBackendPort, backend), startRegistry("auth-mirror", authBackendPort, backend)]);
    const upPrefix = path.join(dir, "nginx", "upstream");
    const frontsPrefix = path.join(dir, "nginx", "fronts");
    nginxDirs(upPrefix);
    nginxDirs(frontsPrefix);
    fs.writeFileSync(
      path.join(upPrefix, "nginx.conf"),
      nginxUpstreamConf(upPrefix, { cert: upstreamCert.cert, key: upstreamCert.key, backendPort: upPort, log: logs.upstream }),
    );
    fs.writeFileSync(
      path.join(frontsPrefix, "nginx.conf"),
      nginxFrontsConf(frontsPrefix, {
        mirrorPort,
        mirrorBackendPort,
        mirrorLog: logs.mirror,
        authPort,
        authBackendPort,
        authCert: authCert.cert,
        authKey: authCert.key,
        htpasswd,
        authLog: logs["auth-mirror"],
        nsPort,
        nsLog: logs["ns-mirror"],
      }),
    );
    await Promise.all([startNginx(dir, "upstream", 443), startNginx(dir, "fronts", mirrorPort, authPort, nsPort)]);
    step("registries");
  })();

  // --- nodes
  const labUid = freeUid();
  const shadowGid = groupId("shadow");
  const sudoPasswordHash = specs.some((s) => s.sudo === "password")
    ? (await runOk("openssl", ["passwd", "-6", LAB_USER_PASSWORD], { timeoutMs: 10_000 })).trim()
    : "";
  const clientPub = fs.readFileSync(`${clientKey}.pub`, "utf8").trim();
  const caBundle =
    fs.readFileSync("/etc/ssl/certs/ca-certificates.crt", "utf8").trimEnd() + `\n# registry-mirrors lab public CA (this node only)\n${publicCa.pem}`;
  const nodePorts: number[] = [];
  for (let i = 0; i < specs.length; i++) nodePorts.push(await port());

  const nodes: NodeDescription[] = specs.map((s, i) => {
    const nd = path.join(dir, "nodes", s.name);
    const p: NodePaths = { lab: dir, node: nd, name: s.name };
    const unit = runtimeUnit(s.runtime);
    for (const d of [
      "etc",
      "var/lib/containerd",
      "var/lib/containers",
      "home",
      "root",
      "bin",
      "lib",
      "data/containerd",
      "data/containers",
      ".work/etc",
      ".work/var",
      ".work/home",
      ".work/usrbin",
      "usrbin",
    ]) {
      fs.mkdirSync(path.join(nd, d), { recursive: true });
    }
    fs.mkdirSync(path.join(nd, "tmp"), { recursive: true });
    fs.chmodSync(path.join(nd, "tmp"), 0o1777);
    fs.chmodSync(path.join(nd, "root"), 0o700);
    for (const f of [".bashrc", ".profile"]) {
      if (fs.existsSync(`/etc/skel/${f}`)) fs.copyFileSync(`/etc/skel/${f}`, path.join(nd, "root", f));
    }
    put(path.join(nd, "sshd_config"), sshdConfig(p, nodePorts[i], s.user));
    put(path.join(nd, "authorized_keys"), clientPub + "\n");
    const runtimeLog = path.join(
      nd,
      `${({ crio: "crio", docker: "dockerd", k3s: "k3s", rke2: "rke2" } as Record<string, string>)[s.runtime] ?? "containerd"}.log`,
    );
    fs.writeFileSync(runtimeLog, "");
    const systemctlLog = path.join(nd, "systemctl.log");
    fs.writeFileSync(systemctlLog, "");
    fs.chmodSync(systemctlLog, 0o666);
    // /etc of the node (overlay upper)
    const etc = path.join(nd, "etc");
    put(path.join(etc, "hosts"), nodeHosts(s.name));
    put(path.join(etc, "ssl", "certs", "ca-certificates.crt"), caBundle);
    if (s.runtime === "docker") {
      // Debian's docker.io ships no daemon.json: dockerd runs on its defaults until one is written.
    } else if (isRancher(s.runtime)) {
      // The installer makes /etc/rancher/<program>; registries.yaml exists only once someone writes it.
      fs.mkdirSync(path.join(etc, "rancher", s.runtime), { recursive: true });
      put(path.join(etc, "crictl.yaml"), crictlYaml(K3S_SOCKET));
      fs.symlinkSync(crictl(tools), path.join(nd, "bin", "crictl"));
      put(path.join(nd, "bin", s.runtime), k3sScript(s.name, s.runtime, path.join(tools, "k3s-stand-in.js")), 0o755);
      if (s.runtime === "rke2") {
        // RKE2 keeps its ctr and crictl in its data dir, off the PATH.
        const rkeBin = path.join(nd, "var", "lib", "rancher", "rke2", "bin");
        fs.mkdirSync(rkeBin, { recursive: true });
        fs.symlinkSync("/usr/bin/ctr", path.join(rkeBin, "ctr"));
        fs.symlinkSync(crictl(tools), path.join(rkeBin, "crictl"));
      }
    } else if (s.runtime !== "crio") {
      put(path.join(etc, "containerd", "config.toml"), containerdConfig(s.runtime, s.config ?? "default", s.name));
      put(path.join(etc, "crictl.yaml"), crictlYaml());
      fs.symlinkSync(crictl(tools), path.join(nd, "bin", "crictl"));
    } else {
      put(path.join(etc, "crio", "crio.conf"), crioConfig(s.name, tools));
      put(path.join(etc, "crio", "policy.json"), CRIO_POLICY);
      put(path.join(etc, "crictl.yaml"), crictlYaml("/run/crio/crio.sock"));
      fs.symlinkSync(crictl(tools), path.join(nd, "bin", "crictl"));
      fs.symlinkSync(path.join(tools, "crio"), path.join(nd, "bin", "crio"));
    }
    if (s.user === "lab") {
      const passwd =
        fs.readFileSync("/etc/passwd", "utf8").trimEnd() +
        `\n${LAB_USER}:x:${labUid}:${labUid}:registry-mirrors lab user:/home/${LAB_USER}:/bin/bash\n`;
      const group = fs.readFileSync("/etc/group", "utf8").trimEnd() + `\n${LAB_USER}:x:${labUid}:\n`;
      const shadow =
        fs.readFileSync("/etc/shadow", "utf8").trimEnd() + `\n${LAB_USER}:${s.sudo === "password" ? sudoPasswordHash : "*"}:19700:0:99999:7:::\n`;
      const sudoers =
        fs.readFileSync("/etc/sudoers", "utf8").trimEnd() +
        `\n\n# registry-mirrors lab node ${s.name}\n${LAB_USER} ALL=(ALL:ALL) ${s.sudo === "nopasswd" ? "NOPASSWD: " : ""}ALL\n`;
      put(path.join(etc, "passwd"), passwd, 0o644);
      put(path.join(etc, "group"), group, 0o644);
      put(path.join(etc, "shadow"), shadow, 0o640);
      fs.chownSync(path.join(etc, "shadow"), 0, shadowGid);
      put(path.join(etc, "sudoers"), sudoers, 0o440);
      const home = path.join(nd, "home", LAB_USER);
      fs.mkdirSync(home, { recursive: true });
      for (const f of [".bashrc", ".profile"]) {
        if (fs.existsSync(`/etc/skel/${f}`)) fs.copyFileSync(`/etc/skel/${f}`, path.join(home, f));
      }
      for (const f of ["", ".bashrc", ".profile"]) {
        const t = path.join(home, f);
        if (fs.existsSync(t)) fs.chownSync(t, labUid, labUid);
      }
      fs.chmodSync(home, 0o750);
    }
    // lab scripts (systemctl, journalctl, crio) and the runtime service
    put(path.join(nd, "lib", "service.sh"), serviceScript(p, s.runtime), 0o755);
    put(path.join(nd, "bin", "systemctl"), systemctlScript(p, unit), 0o755);
    put(path.join(nd, "bin", "journalctl"), journalctlScript(p, unit, runtimeLog), 0o755);
    const hide =
      s.runtime === "crio"
        ? ["containerd", "ctr", "containerd-shim", "containerd-shim-runc-v1", "containerd-shim-runc-v2", "containerd-stress"].filter((b) =>
            fs.existsSync(`/usr/bin/${b}`),
          )
        : [];
    put(path.join(nd, "boot.sh"), bootScript({ paths: p, runtime: s.runtime, toolsBin: tools, hideUsrBin: hide }), 0o755);
    const hostKey = fs.readFileSync(path.join(nd, "ssh_host_ed25519_key.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    return {
      name: s.name,
      host: "127.0.0.1",
      port: nodePorts[i],
      user: s.user,
      privateKeyPath: clientKey,
      hostKey,
      knownHostsLine: `[127.0.0.1]:${nodePorts[i]} ${hostKey}`,
      runtime: s.runtime,
      runtimeVersion: "",
      unit,
      config: s.config,
      sudo: s.sudo,
      sudoPassword: s.sudo === "password" ? LAB_USER_PASSWORD : undefined,
      containerdSocket:
        s.runtime === "crio" || s.runtime === "docker" ? undefined : isRancher(s.runtime) ? K3S_SOCKET : "/run/containerd/containerd.sock",
      criSocket:
        s.runtime === "crio"
          ? "/run/crio/crio.sock"
          : s.runtime === "docker"
            ? undefined
            : isRancher(s.runtime)
              ? K3S_SOCKET
              : "/run/containerd/containerd.sock",
      dir: nd,
      sshdLog: path.join(nd, "sshd.log"),
      runtimeLog,
      systemctlLog,
      sshdPid: 0,
    };
  });
  const knownHostsFile = path.join(keyDir, "known_hosts");
  fs.writeFileSync(knownHostsFile, nodes.map((n) => n.knownHostsLine).join("\n") + "\n");
  for (const n of nodes) {
    n.sshdPid = spawnRecorded(dir, `${n.name}.sshd`, "unshare", ["-m", "--propagation", "private", "sh", path.join(n.dir, "boot.sh")], n.sshdLog);
  }
  step(`${nodes.length} nodes spawned`);

  const nodesReady = Promise.all(
    nodes.map(async (n) => {
      await waitFor(
        `sshd of ${n.name} on 127.0.0.1:${n.port}`,
        async () => {
          if (!isAlive(n.sshdPid)) throw new FatalWaitError(`sshd of ${n.name} exited: ${tail(n.sshdLog, 5)}`);
          return portOpen(n.port);
        },
        20_000,
      );
      {
        const crio = n.runtime === "crio";
        const docker = n.runtime === "docker";
        const k3s = isRancher(n.runtime);
        const daemon = crio ? "crio" : docker ? "dockerd" : k3s ? n.runtime : "containerd";
        const probe = crio
          ? ["crictl", "--runtime-endpoint", "unix:///run/crio/crio.sock", "version"]
          : docker
            ? ["docker", "--host", "unix:///run/docker.sock", "version"]
            : ["ctr", "--address", k3s ? K3S_SOCKET : "/run/containerd/containerd.sock", "version"];
        await waitFor(
          `${daemon} of ${n.name}`,
          async () => {
            const r = await nsRun(dir, n, probe, { timeoutMs: 5000 });
            if (r.code !== 0) {
              const pid = readPid(dir, `${n.name}.${daemon}`);
              if (pid && !isAlive(pid)) throw new FatalWaitError(`${daemon} of ${n.name} exited: ${tail(n.runtimeLog, 8)}`);
            }
            return r.code === 0;
          },
          30_000,
          100,
        );
        fs.writeFileSync(path.join(n.dir, "runtime.state"), "active\n");
      }
      const versionCommand = ({ crio: "crio", docker: "dockerd", k3s: "k3s", rke2: "rke2" } as Record<string, string>)[n.runtime] ?? "containerd";
      const v = await nsRun(dir, n, [versionCommand, "--version"], {
        timeoutMs: 10_000,
      });
      n.runtimeVersion = v.stdout.split("\n")[0].trim();
    }),
  );
  await Promise.all([registriesReady, nodesReady]);
  step("nodes ready");

  const description: LabDescription = {
    dir,
    startedAt: "",
    startupMs: 0,
    privateKeyPath: clientKey,
    publicKey: clientPub,
    knownHostsFile,
    nodes,
    registries: {
      upstream: {
        name: "upstream",
        url: "https://registry-1.docker.io",
        host: "registry-1.docker.io",
        port: 443,
        tls: true,
        caPem: publicCa.pem,
        caFile: publicCa.cert,
        backendUrl: `http://127.0.0.1:${upPort}`,
        accessLog: logs.upstream,
      },
      mirror: {
        name: "mirror",
        url: `http://127.0.0.1:${mirrorPort}`,
        host: `127.0.0.1:${mirrorPort}`,
        port: mirrorPort,
        tls: false,
        backendUrl: `http://127.0.0.1:${mirrorBackendPort}`,
        accessLog: logs.mirror,
      },
      "auth-mirror": {
        name: "auth-mirror",
        url: `https://127.0.0.1:${authPort}`,
        host: `127.0.0.1:${authPort}`,
        port: authPort,
        tls: true,
        caPem: privateCa.pem,
        caFile: privateCa.cert,
        username,
        password,
        backendUrl: `http://127.0.0.1:${authBackendPort}`,
        accessLog: logs["auth-mirror"],
      },
      "ns-mirror": {
        name: "ns-mirror",
        url: `http://127.0.0.1:${nsPort}${NS_PREFIX}`,
        host: `127.0.0.1:${nsPort}`,
        port: nsPort,
        tls: false,
        pathPrefix: NS_PREFIX,
        backendUrl: `http://127.0.0.1:${mirrorBackendPort}`,
        accessLog: logs["ns-mirror"],
      },
    },
    upstreamNames: [...UPSTREAM_NAMES],
    publicCaFile: publicCa.cert,
    images: [],
    versions: {},
  };
  const lab = new Lab(description);
  const [v16, reg, sk, ngx, hello, gcrHello] = await Promise.all([
    run("containerd", ["--version"], { timeoutMs: 10_000 }),
    run("docker-registry", ["--version"], { timeoutMs: 10_000 }),
    run("skopeo", ["--version"], { timeoutMs: 10_000 }),
    run("nginx", ["-v"], { timeoutMs: 10_000 }),
    lab.pushImage("library/hello", "1.0"),
    lab.pushImage("lab/hello", "1.0", { registry: "gcr.io" }),
  ]);
  description.images.push(hello, gcrHello); // in this order: images[0] is docker.io/library/hello:1.0
  description.versions = {
    containerd: v16.stdout.trim(),
    containerd2: nodes.find((n) => n.runtime === "containerd2")?.runtimeVersion ?? "",
    dockerRegistry: reg.stdout.trim(),
    skopeo: sk.stdout.trim(),
    nginx: (ngx.stderr || ngx.stdout).trim(),
  };
  step("images pushed");
  description.startupMs = Date.now() - t0;
  description.startedAt = new Date().toISOString();
  fs.writeFileSync(path.join(dir, DESCRIPTION_FILE), JSON.stringify(description, null, 2) + "\n");
  return lab;
}

function crictl(tools: string): string {
  return path.join(tools, "crictl");
}

function tail(file: string, n: number): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-n).join("\n");
  } catch {
    return "";
  }
}

async function startNginx(dir: string, name: string, ...ports: number[]): Promise<void> {
  const prefix = path.join(dir, "nginx", name);
  spawnRecorded(
    dir,
    `nginx-${name}`,
    "nginx",
    ["-p", prefix, "-c", path.join(prefix, "nginx.conf"), "-e", path.join(prefix, "error.log")],
    path.join(prefix, "stderr.log"),
  );
  await waitFor(
    `nginx ${name} on ${ports.join(",")}`,
    async () => {
      const pid = readPid(dir, `nginx-${name}`);
      if (pid && !isAlive(pid))
        throw new FatalWaitError(`nginx ${name} exited: ${tail(path.join(prefix, "error.log"), 5)} ${tail(path.join(prefix, "stderr.log"), 5)}`);
      return (await Promise.all(ports.map((p) => portOpen(p)))).every(Boolean);
    },
    15_000,
  );
}

/** Run argv inside a node's mount namespace as root (nsenter; no SSH session). */
function nsRun(dir: string, node: NodeDescription, argv: string[], opts: RunOptions = {}): Promise<ExecResult> {
  return run("nsenter", ["-t", String(node.sshdPid), "-m", "--", ...argv], {
    timeoutMs: opts.timeoutMs ?? 60_000,
    input: opts.input,
    env: { ...labEnv(dir), HOME: "/root", ...(opts.env ?? {}) },
  });
}

/** Options of {@link Lab.exec}. */
export interface ExecOptions {
  /** Time limit (default 60 s); the ssh client is killed then. */
  timeoutMs?: number;
  /** Standard input for the remote command. */
  input?: string;
}

/**
 * A running lab. Node arguments accept a node name or its description. All helpers have time limits.
 */
export class Lab {
  private stopped = false;
  private imageCounter = 0;

  /** Build a handle from a description (see also {@link attachLab}). */
  constructor(private readonly d: LabDescription) {}

  /** The lab as JSON-serialisable data (a copy). */
  describe(): LabDescription {
    return JSON.parse(JSON.stringify(this.d)) as LabDescription;
  }

  /** The lab directory. */
  get dir(): string {
    return this.d.dir;
  }

  /** All nodes. */
  get nodes(): NodeDescription[] {
    return this.d.nodes;
  }

  /** A node by name (throws if unknown). */
  node(ref: NodeRef): NodeDescription {
    const name = typeof ref === "string" ? ref : ref.name;
    const n = this.d.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`lab: no node ${name}`);
    return n;
  }

  /** First node matching `pred` (throws with `what` if none). */
  findNode(pred: (n: NodeDescription) => boolean, what = "matching node"): NodeDescription {
    const n = this.d.nodes.find(pred);
    if (!n) throw new Error(`lab: no ${what} among ${this.d.nodes.map((x) => `${x.name}(${x.runtime},${x.user})`).join(" ")}`);
    return n;
  }

  /** A registry front by name. */
  registry(name: RegistryName): RegistryDescription {
    return this.d.registries[name];
  }

  /** ssh client arguments (without the remote command) for a node, pinning its host key. */
  sshArgs(ref: NodeRef): string[] {
    const n = this.node(ref);
    return [
      "-F",
      "/dev/null",
      "-i",
      n.privateKeyPath,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `UserKnownHostsFile=${this.d.knownHostsFile}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      "ConnectTimeout=10",
      "-o",
      "LogLevel=ERROR",
      "-p",
      String(n.port),
      `${n.user}@${n.host}`,
    ];
  }

  /**
   * Run a shell command on a node over SSH as the node's login user (root or `lab`), exactly like the component
   * would. Counts as one SSH session in {@link sshSessionCount}.
   */
  exec(ref: NodeRef, cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return run("ssh", [...this.sshArgs(ref), "--", cmd], { timeoutMs: opts.timeoutMs ?? 60_000, input: opts.input, env: labEnv(this.d.dir) });
  }

  /** {@link exec} that throws on a non-zero exit; returns stdout. */
  async execOk(ref: NodeRef, cmd: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(ref, cmd, opts);
    if (r.code !== 0) throw new Error(`lab: ${this.node(ref).name}: \`${cmd}\` exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /**
   * Run a command inside the node's mount namespace as root WITHOUT SSH (nsenter): for the lab's own checks, so they
   * do not show up in {@link sshSessionCount}. A string is run with `sh -c`.
   */
  nsExec(ref: NodeRef, cmd: string | string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const argv = typeof cmd === "string" ? ["sh", "-c", cmd] : cmd;
    return nsRun(this.d.dir, this.node(ref), argv, { timeoutMs: opts.timeoutMs, input: opts.input });
  }

  /** {@link nsExec} that throws on a non-zero exit; returns stdout. */
  async nsExecOk(ref: NodeRef, cmd: string | string[], opts: ExecOptions = {}): Promise<string> {
    const r = await this.nsExec(ref, cmd, opts);
    if (r.code !== 0) throw new Error(`lab: ${this.node(ref).name}: ${JSON.stringify(cmd)} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /** Where a path inside the node is on this machine (through `/proc/<sshd pid>/root`), for reading it without SSH. */
  nodePath(ref: NodeRef, p: string): string {
    if (!path.isAbsolute(p)) throw new Error(`lab: node path must be absolute: ${p}`);
    const n = this.node(ref);
    if (!isAlive(n.sshdPid)) throw new Error(`lab: node ${n.name} is not running`);
    return `/proc/${n.sshdPid}/root${path.normalize(p)}`;
  }

  /** Read a file as the node sees it (through its mounts; no SSH session). Throws if missing. */
  readNodeFile(ref: NodeRef, p: string): string {
    return fs.readFileSync(this.nodePath(ref, p), "utf8");
  }

  /** Like {@link readNodeFile} but `undefined` when the file does not exist. */
  tryReadNodeFile(ref: NodeRef, p: string): string | undefined {
    try {
      return this.readNodeFile(ref, p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  /** Whether a path exists inside the node. */
  nodeFileExists(ref: NodeRef, p: string): boolean {
    return fs.existsSync(this.nodePath(ref, p));
  }

  /** Write a file inside the node as root (parents created, default mode 0644); no SSH session. */
  writeNodeFile(ref: NodeRef, p: string, content: string, mode = 0o644): void {
    const hp = this.nodePath(ref, p);
    fs.mkdirSync(path.dirname(hp), { recursive: true });
    fs.writeFileSync(hp, content, { mode });
    fs.chmodSync(hp, mode);
  }

  /** Remove a file or directory tree inside the node (no error if missing). */
  removeNodePath(ref: NodeRef, p: string): void {
    fs.rmSync(this.nodePath(ref, p), { recursive: true, force: true });
  }

  /**
   * Pull an image over CRI (`crictl pull`: containerd honours `config_path`, CRI-O its registries.conf.d), then read
   * back its repo digests with `crictl inspecti -o json`. Throws with crictl's message when the pull fails.
   */
  async criPull(ref: NodeRef, image: string, opts: { creds?: string; timeoutMs?: number } = {}): Promise<CriPullResult> {
    const n = this.node(ref);
    const args = ["crictl", "pull", ...(opts.creds ? ["--creds", opts.creds] : []), image];
    const r = await this.nsExec(n, args, { timeoutMs: opts.timeoutMs ?? 90_000 });
    if (r.code !== 0) throw new Error(`lab: ${n.name}: crictl pull ${image} failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
    const info = await this.criInspect(n, image);
    if (!info) throw new Error(`lab: ${n.name}: ${image} pulled but crictl inspecti does not know it`);
    return info;
  }

  /** `crictl inspecti -o json IMAGE` over the node's CRI socket; undefined if the image is not there. */
  async criInspect(ref: NodeRef, image: string): Promise<CriPullResult | undefined> {
    const r = await this.nsExec(ref, ["crictl", "inspecti", "-o", "json", image], { timeoutMs: 30_000 });
    if (r.code !== 0) return undefined;
    const j = JSON.parse(r.stdout) as { status?: { id?: string; repoDigests?: string[]; repoTags?: string[] } };
    const s = j.status ?? {};
    return { repoDigest: s.repoDigests?.[0] ?? "", repoDigests: s.repoDigests ?? [], repoTags: s.repoTags ?? [], id: s.id ?? "" };
  }

  /** Remove an image record over CRI (blobs may stay in the content store: use fresh images for traffic). */
  async criRemove(ref: NodeRef, image: string): Promise<void> {
    await this.nsExec(ref, ["crictl", "rmi", image], { timeoutMs: 30_000 });
  }

  /**
   * `skopeo inspect docker://IMAGE` inside a node: uses the node's /etc/containers/registries.conf(.d), /etc/hosts
   * and CA bundle, like CRI-O would. Returns the parsed JSON (`Digest`, `Name`, …); throws on failure.
   * Tags are not listed (`--no-tags`: listing asks the primary registry, never a mirror) unless `tags: true`.
   */
  async skopeoInspect(
    ref: NodeRef,
    image: string,
    opts: { raw?: boolean; tags?: boolean; creds?: string; tlsVerify?: boolean; args?: string[]; timeoutMs?: number } = {},
  ): Promise<{ Digest?: string; Name?: string; [k: string]: unknown }> {
    const n = this.node(ref);
    const args = [
      "skopeo",
      "inspect",
      ...(opts.raw ? ["--raw"] : opts.tags ? [] : ["--no-tags"]),
      ...(opts.creds ? ["--creds", opts.creds] : []),
      ...(opts.tlsVerify === false ? ["--tls-verify=false"] : []),
      ...(opts.args ?? []),
      `docker://${image}`,
    ];
    const r = await this.nsExec(n, args, { timeoutMs: opts.timeoutMs ?? 60_000 });
    if (r.code !== 0) throw new Error(`lab: ${n.name}: skopeo inspect ${image} failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
    return JSON.parse(r.stdout) as { Digest?: string };
  }

  /**
   * `podman pull IMAGE` inside a node as root (containers/image, the library CRI-O uses, reading the node's
   * registries.conf(.d)); returns the image id. Throws on failure.
   */
  async podmanPull(ref: NodeRef, image: string, opts: { creds?: string; timeoutMs?: number } = {}): Promise<string> {
    const n = this.node(ref);
    const args = ["podman", "pull", "--quiet", ...(opts.creds ? ["--creds", opts.creds] : []), image];
    const r = await this.nsExec(n, args, { timeoutMs: opts.timeoutMs ?? 90_000 });
    if (r.code !== 0) throw new Error(`lab: ${n.name}: podman pull ${image} failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
    return r.stdout.trim();
  }

  /**
   * `docker pull IMAGE` on a Docker node (dockerd reading the node's daemon.json), then its repo digests from
   * `docker image inspect`. Throws with docker's message when the pull fails.
   */
  async dockerPull(ref: NodeRef, image: string, opts: { timeoutMs?: number } = {}): Promise<{ repoDigests: string[]; id: string }> {
    const n = this.node(ref);
    const r = await this.nsExec(n, ["docker", "pull", "--quiet", image], { timeoutMs: opts.timeoutMs ?? 90_000 });
    if (r.code !== 0) throw new Error(`lab: ${n.name}: docker pull ${image} failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
    const info = await this.nsExec(n, ["docker", "image", "inspect", "--format", "{{json .RepoDigests}} {{.Id}}", image], { timeoutMs: 30_000 });
    const [digests, id] = info.stdout.trim().split(" ");
    return { repoDigests: JSON.parse(digests) as string[], id };
  }

  /** `docker rmi IMAGE` on a Docker node (no error when it is not there). */
  async dockerRemove(ref: NodeRef, image: string): Promise<void> {
    await this.nsExec(ref, ["docker", "rmi", "--force", image], { timeoutMs: 30_000 });
  }

  /** Every `systemctl` call on the node, oldest first. */
  systemctlCalls(ref: NodeRef): SystemctlCall[] {
    const n = this.node(ref);
    return fs
      .readFileSync(n.systemctlLog, "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => {
        const [time, verb, unit, uid, rc] = l.split("\t");
        return { time, verb, unit, uid: parseInt(uid, 10), exitCode: parseInt(rc, 10) };
      });
  }

  /** How many times the node's runtime unit was restarted through systemctl ({@link RESTART_VERBS}). */
  restartCount(ref: NodeRef): number {
    const n = this.node(ref);
    return this.systemctlCalls(n).filter((c) => c.unit === n.unit && RESTART_VERBS.includes(c.verb)).length;
  }

  /** How many SSH sessions were accepted by the node's sshd ("Accepted publickey" lines in its log). */
  sshSessionCount(ref: NodeRef): number {
    const n = this.node(ref);
    return (fs.readFileSync(n.sshdLog, "utf8").match(/Accepted publickey for /g) ?? []).length;
  }

  /** Make the node's next runtime start (e.g. `systemctl restart containerd`) fail, like a unit that will not start. */
  failNextRestart(ref: NodeRef): void {
    fs.writeFileSync(path.join(this.node(ref).dir, "fail-next-restart"), "");
  }

  /** Last `n` lines of the runtime's log (what `journalctl -u containerd -n N` prints on the node). */
  journal(ref: NodeRef, n = 50): string {
    return tail(this.node(ref).runtimeLog, n);
  }

  /** State of the runtime unit: `active`, `inactive`, `failed`, `activating`. */
  async runtimeState(ref: NodeRef): Promise<string> {
    return (await this.nsExecOk(ref, [path.join(this.node(ref).dir, "lib", "service.sh"), "state"], { timeoutMs: 10_000 })).trim();
  }

  /** `ctr plugins ls` on a containerd node, parsed (e.g. to see that the CRI plugin failed to load). */
  async plugins(ref: NodeRef): Promise<{ type: string; id: string; status: string }[]> {
    const out = await this.nsExecOk(ref, ["ctr", "--address", "/run/containerd/containerd.sock", "plugins", "ls"], { timeoutMs: 15_000 });
    return out
      .split("\n")
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 4)
      .map((f) => ({ type: f[0], id: f[1], status: f[f.length - 1] }));
  }

  /** Whether the CRI plugins of a containerd node loaded (`ok`); false means e.g. an invalid registry config. */
  async criLoaded(ref: NodeRef): Promise<boolean> {
    const ps = await this.plugins(ref);
    const cri = ps.filter((p) => p.id === "cri" || p.type === "io.containerd.cri.v1");
    return cri.length > 0 && cri.every((p) => p.status === "ok");
  }

  /** Parsed access log of a registry front. `from` skips the first entries (see {@link requestCount}). */
  requests(name: RegistryName, opts: { from?: number } = {}): RegistryRequest[] {
    const out: RegistryRequest[] = [];
    for (const line of fs.readFileSync(this.d.registries[name].accessLog, "utf8").split("\n")) {
      const r = line.trim() ? parseAccessLine(line) : undefined;
      if (r) out.push(r);
    }
    return out.slice(opts.from ?? 0);
  }

  /** Number of entries in a registry front's access log so far (a mark for `requests(name, { from })`). */
  requestCount(name: RegistryName): number {
    return this.requests(name).length;
  }

  /** Requests for one repository (`/v2/<repo>/…`, namespace prefix of the ns-mirror removed). */
  requestsFor(name: RegistryName, repo: string, opts: { from?: number } = {}): RegistryRequest[] {
    const prefix = name === "ns-mirror" ? `${NS_PREFIX}/${repo}/` : `/v2/${repo}/`;
    return this.requests(name, opts).filter((r) => r.path.startsWith(prefix));
  }

  /** Stop the upstream TLS front on 127.0.0.1:443 (the mirrors still reach the upstream backend). */
  async upstreamDown(): Promise<void> {
    const pid = readPid(this.d.dir, "nginx-upstream");
    if (pid && isAlive(pid)) {
      try {
        process.kill(-pid, "SIGTERM");
      } catch {
        /* gone */
      }
      await waitFor("upstream front to stop", () => !isAlive(pid), 10_000).catch(() => {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          /* gone */
        }
      });
    }
    await waitFor("127.0.0.1:443 to close", async () => !(await portOpen(443)), 10_000);
  }

  /** Start the upstream TLS front again (no-op if it runs). */
  async upstreamUp(): Promise<void> {
    const pid = readPid(this.d.dir, "nginx-upstream");
    if (pid && isAlive(pid)) return;
    await startNginx(this.d.dir, "upstream", 443);
  }

  /** Whether the upstream front is up. */
  upstreamIsUp(): Promise<boolean> {
    return portOpen(443);
  }

  /**
   * Push a fresh, unique one-layer image (its content differs on every call, so no cache has its blobs) to the
   * upstream backend as `repo:tag`. `repo` is the path in the registry (`library/x`; a bare name gets `library/` when
   * the registry is docker.io); `tag` defaults to a random one. The returned `ref` uses `opts.registry`
   * (default `docker.io`; any of {@link LabDescription.upstreamNames} resolves to the same upstream inside nodes).
   */
  async pushImage(repo: string, tag?: string, opts: { registry?: string } = {}): Promise<PushedImage> {
    const registry = opts.registry ?? "docker.io";
    const r = registry === "docker.io" && !repo.includes("/") ? `library/${repo}` : repo;
    const t = tag ?? `t${crypto.randomBytes(4).toString("hex")}`;
    const idx = ++this.imageCounter;
    const layoutDir = path.join(this.d.dir, "images", `${process.pid}-${idx}-${crypto.randomBytes(3).toString("hex")}`);
    writeOciLayout(layoutDir, t, `${registry}/${r}:${t} ${crypto.randomUUID()} ${new Date().toISOString()}\n`);
    const digestFile = path.join(layoutDir, "pushed.digest");
    // skopeo runs in a throw-away mount namespace with a tmpfs on /var/lib: as root it would otherwise create or
    // update the machine's /var/lib/containers/cache (blob info cache).
    await runOk(
      "unshare",
      [
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -t tmpfs -o size=16m lab-skopeo /var/lib && exec skopeo "$@"',
        "skopeo",
        "copy",
        "--quiet",
        "--insecure-policy",
        "--dest-tls-verify=false",
        "--digestfile",
        digestFile,
        `oci:${layoutDir}:${t}`,
        `docker://${this.d.registries.upstream.backendUrl.replace(/^http:\/\//, "")}/${r}:${t}`,
      ],
      { timeoutMs: 60_000, env: labEnv(this.d.dir, { TMPDIR: path.join(this.d.dir, "tmp") }) },
    );
    const digest = fs.readFileSync(digestFile, "utf8").trim();
    return { repo: r, tag: t, registry, ref: `${registry}/${r}:${t}`, digest, digestRef: `${registry}/${r}@${digest}` };
  }

  /**
   * Stop everything (all recorded processes and everything inside the nodes' namespaces), wait for it, and remove
   * the lab dir. Set `REGMIRROR_LAB_KEEP=1` to keep the dir for inspection.
   */
  async stop(): Promise<StopReport> {
    if (this.stopped) return { signalled: 0, survivors: [], mounts: [], removed: !fs.existsSync(this.d.dir) };
    this.stopped = true;
    liveLabs.delete(this.d.dir);
    return stopLabDirSync(this.d.dir, { keepDir: !!process.env.REGMIRROR_LAB_KEEP });
  }
}

/** A handle on a lab started elsewhere (e.g. by `cli.ts start`), from its directory. Does not stop it on exit. */
export function attachLab(dir: string): Lab {
  const d = JSON.parse(fs.readFileSync(path.join(dir, DESCRIPTION_FILE), "utf8")) as LabDescription;
  return new Lab(d);
}

/** The environment marker every lab process carries (`REGMIRROR_LAB=<dir>`). */
export const LAB_ENV_MARKER = LAB_MARKER;
