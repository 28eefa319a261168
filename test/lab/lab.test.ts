/**
 * The lab itself: 10 nodes of mixed runtimes start, answer over SSH with pinned host keys, each sees its own /etc,
 * its runtime answers, sudo behaves as configured, the lab's systemctl restarts containerd for real, the machine's
 * files are untouched, and stop leaves no process and no mount.
 */
import * as fs from "fs";
import * as path from "path";
import { Lab, labProcesses, mountsUnder, startLab } from "./index";

jest.setTimeout(300_000);

function snapshotDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) Object.assign(out, snapshotDir(p));
    else if (e.isFile()) out[p] = fs.readFileSync(p, "utf8");
    else out[p] = "(special)";
  }
  return out;
}

const hostHosts = fs.readFileSync("/etc/hosts", "utf8");
const hostContainerd = snapshotDir("/etc/containerd");
const hostCaBundle = fs.readFileSync("/etc/ssl/certs/ca-certificates.crt", "utf8");
const hostPasswd = fs.readFileSync("/etc/passwd", "utf8");

let lab: Lab;
let dir = "";

beforeAll(async () => {
  lab = await startLab({ nodes: 10, log: (s) => process.stdout.write(s + "\n") });
  dir = lab.dir;
  process.stdout.write(`LAB START-UP TIME: ${lab.describe().startupMs} ms for ${lab.nodes.length} nodes\n`);
});

afterAll(async () => {
  if (lab) await lab.stop();
});

test("10 nodes with mixed runtimes and users", () => {
  const d = lab.describe();
  expect(d.nodes).toHaveLength(10);
  const runtimes = new Set(d.nodes.map((n) => n.runtime));
  expect([...runtimes].sort()).toEqual(["containerd", "containerd2", "crio"]);
  for (const n of d.nodes) {
    if (n.runtime === "containerd") expect(n.runtimeVersion).toMatch(/^containerd .* 1\.6\./);
    if (n.runtime === "containerd2") expect(n.runtimeVersion).toMatch(/^containerd .* v?2\.\d+\.\d+/);
    if (n.runtime === "crio") expect(n.runtimeVersion).toBe("crio version 1.36.3");
    expect(n.hostKey).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+$/);
    expect(n.host).toBe("127.0.0.1");
  }
  expect(d.nodes.some((n) => n.user === "lab" && n.sudo === "nopasswd")).toBe(true);
  expect(d.nodes.some((n) => n.user === "lab" && n.sudo === "password")).toBe(true);
  // JSON round trip
  expect(JSON.parse(JSON.stringify(d))).toEqual(d);
});

test("every node answers over SSH with its pinned host key and sees its own /etc/hosts", async () => {
  await Promise.all(
    lab.nodes.map(async (n) => {
      const out = await lab.execOk(n, "id -un; cat /etc/hosts; command -v systemctl; containerd --version 2>/dev/null || crio --version | head -1");
      const lines = out.split("\n");
      expect(lines[0]).toBe(n.user);
      expect(out).toContain(`lab node ${n.name}`);
      expect(out).toMatch(/^127\.0\.0\.1 registry-1\.docker\.io$/m);
      expect(out).toContain("/usr/local/bin/systemctl");
      expect(out).toContain(n.runtimeVersion);
    }),
  );
  // the pin is real: node A's port with node B's key is refused
  const [a, b] = lab.nodes;
  const wrong = path.join(dir, "tmp", "wrong_known_hosts");
  fs.writeFileSync(wrong, `[127.0.0.1]:${a.port} ${b.hostKey}\n`);
  const args = lab.sshArgs(a).map((x) => (x.startsWith("UserKnownHostsFile=") ? `UserKnownHostsFile=${wrong}` : x));
  const { run } = await import("./proc");
  const r = await run("ssh", [...args, "true"], { timeoutMs: 20_000 });
  expect(r.code).toBe(255);
  expect(r.stderr).toMatch(/host key|HOST IDENTIFICATION/i);
});

test("each containerd answers on the node's standard socket; the CRI-O node runs CRI-O on its socket and has no containerd", async () => {
  for (const n of lab.nodes) {
    if (n.runtime === "crio") {
      const r = await lab.exec(
        n,
        "command -v containerd; ls /run/containerd 2>&1; cat /etc/containers/registries.conf >/dev/null && echo conf-ok; crictl version",
      );
      expect(r.stdout).not.toMatch(/\/containerd\n/);
      expect(r.stdout).toContain("conf-ok");
      expect(r.stdout).toMatch(/RuntimeName:\s+cri-o[\s\S]*RuntimeVersion:\s+1\.36\.3/);
      continue;
    }
    const sudo = n.user === "root" ? "" : "sudo -n ";
    if (n.sudo === "password") {
      // cannot become root over SSH there; check through the namespace instead
      expect(await lab.nsExecOk(n, "ctr version")).toContain("Server:");
    } else {
      const out = await lab.execOk(n, `${sudo}ctr --address /run/containerd/containerd.sock version; ${sudo}crictl info >/dev/null && echo cri-ok`);
      expect(out).toContain("Server:");
      expect(out).toContain("cri-ok");
    }
    const v = await lab.nsExecOk(n, "ctr version");
    expect(v).toMatch(n.runtime === "containerd2" ? /Version:\s+v?2\./ : /Version:\s+1\.6\./);
    expect(lab.readNodeFile(n, "/etc/containerd/config.toml")).toMatch(n.runtime === "containerd2" ? /^version = 3$/m : /^version = 2$/m);
  }
});

test("config.toml variants are what they claim", () => {
  for (const n of lab.nodes.filter((x) => x.runtime !== "crio")) {
    const cfg = lab.readNodeFile(n, "/etc/containerd/config.toml");
    if (n.config === "default" && n.runtime === "containerd") expect(cfg).toMatch(/^\s*config_path = ""$/m);
    if (n.config === "default" && n.runtime === "containerd2") {
      expect(cfg).toContain("[plugins.'io.containerd.cri.v1.images'.registry]");
      expect(cfg).toMatch(/^\s*config_path = ''$/m);
    }
    if (n.config === "no-config-path") expect(cfg).not.toContain("config_path");
    if (n.config === "legacy-mirrors") expect(cfg).toContain(`registry.mirrors."docker.io"]`);
  }
});

test("sudo: NOPASSWD works; a password-only sudo fails fast with a clear message (no hang)", async () => {
  const ok = lab.findNode((n) => n.sudo === "nopasswd", "passwordless sudo node");
  expect((await lab.exec(ok, "sudo -n true")).code).toBe(0);
  expect((await lab.execOk(ok, "sudo -n id -u")).trim()).toBe("0");
  expect((await lab.execOk(ok, "sudo -n systemctl is-active containerd")).trim()).toBe("active");

  const pw = lab.findNode((n) => n.sudo === "password", "password sudo node");
  let t = Date.now();
  const r = await lab.exec(pw, "sudo -n true", { timeoutMs: 15_000 });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/password is required/);
  expect(Date.now() - t).toBeLessThan(10_000);
  t = Date.now();
  const r2 = await lab.exec(pw, "sudo true", { timeoutMs: 15_000 });
  expect(r2.code).not.toBe(0);
  expect(r2.timedOut).toBe(false);
  expect(Date.now() - t).toBeLessThan(10_000);
  // the user itself can log in, and systemctl without root is refused like systemd does
  const r3 = await lab.exec(pw, "systemctl restart containerd");
  expect(r3.code).toBe(4);
});

test("lab systemctl really restarts containerd, logs every call, can be made to fail; journalctl prints the log", async () => {
  const n = lab.findNode((x) => x.runtime === "containerd" && x.user === "root", "root containerd node");
  const before = lab.restartCount(n);
  const pid1 = (await lab.nsExecOk(n, [`${n.dir}/lib/service.sh`, "pid"])).trim();
  await lab.execOk(n, "systemctl restart containerd");
  const pid2 = (await lab.nsExecOk(n, [`${n.dir}/lib/service.sh`, "pid"])).trim();
  expect(pid2).not.toBe(pid1);
  expect(lab.restartCount(n)).toBe(before + 1);
  expect(await lab.nsExecOk(n, "ctr version")).toContain("Server:");

  lab.failNextRestart(n);
  const r = await lab.exec(n, "systemctl restart containerd");
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("Job for containerd.service failed");
  const state = await lab.exec(n, "systemctl is-active containerd");
  expect(state.stdout.trim()).toBe("failed");
  expect(state.code).toBe(3);
  const j = await lab.execOk(n, "journalctl -u containerd -n 5 --no-pager");
  expect(j).toContain("fail-next-restart");
  await lab.execOk(n, "systemctl restart containerd");
  expect((await lab.execOk(n, "systemctl is-active containerd")).trim()).toBe("active");
  expect(lab.restartCount(n)).toBe(before + 3);
  const calls = lab.systemctlCalls(n);
  expect(
    calls
      .filter((c) => c.verb === "restart")
      .map((c) => c.exitCode)
      .slice(-3),
  ).toEqual([0, 1, 0]);

  // reload is not applicable to containerd (as with systemd); for CRI-O it is a SIGHUP to the same process
  expect((await lab.exec(n, "systemctl reload containerd")).code).not.toBe(0);
  const crio = lab.findNode((x) => x.runtime === "crio", "CRI-O node");
  const pid = (await lab.execOk(crio, "systemctl show -p MainPID --value crio")).trim();
  expect((await lab.exec(crio, "systemctl reload crio")).code).toBe(0);
  expect(lab.systemctlCalls(crio).some((c) => c.verb === "reload" && c.unit === "crio")).toBe(true);
  expect(lab.journal(crio, 50)).toMatch(/reloading crio \(SIGHUP/);
  expect((await lab.execOk(crio, "systemctl show -p MainPID --value crio")).trim()).toBe(pid);
});

test("a restart reports real failures: legacy mirrors + config_path leaves CRI unloaded; invalid TOML does not start", async () => {
  const n = lab.findNode((x) => x.config === "legacy-mirrors", "legacy-mirrors node");
  const original = lab.readNodeFile(n, "/etc/containerd/config.toml");
  expect(await lab.criLoaded(n)).toBe(true);
  const both = original.replace(/(\[plugins\."io\.containerd\.grpc\.v1\.cri"\.registry\]\n)/, '$1      config_path = "/etc/containerd/certs.d"\n');
  expect(both).toContain("config_path");
  lab.writeNodeFile(n, "/etc/containerd/config.toml", both);
  await lab.execOk(n, "systemctl restart containerd"); // the daemon starts…
  expect(await lab.criLoaded(n)).toBe(false); // …but the CRI plugin does not load
  expect(lab.journal(n, 200)).toMatch(/mirrors.*cannot be set when .*config_path/);

  lab.writeNodeFile(n, "/etc/containerd/config.toml", original + "\nthis is = not [valid toml\n");
  const r = await lab.exec(n, "systemctl restart containerd");
  expect(r.code).toBe(1);
  expect((await lab.exec(n, "systemctl is-active containerd")).stdout.trim()).toBe("failed");

  lab.writeNodeFile(n, "/etc/containerd/config.toml", original);
  await lab.execOk(n, "systemctl restart containerd");
  expect(await lab.criLoaded(n)).toBe(true);
});

test("SSH sessions are counted from the sshd log", async () => {
  const n = lab.nodes[0];
  const before = lab.sshSessionCount(n);
  await lab.execOk(n, "true");
  await lab.execOk(n, "true");
  await lab.nsExecOk(n, "true"); // not an SSH session
  expect(lab.sshSessionCount(n)).toBe(before + 2);
});

test("the machine's /etc/hosts, /etc/containerd, CA bundle and passwd are untouched", async () => {
  const n = lab.nodes[0];
  lab.writeNodeFile(n, "/etc/containerd/certs.d/docker.io/hosts.toml", 'server = "http://127.0.0.1:1"\n');
  await lab.execOk(n, "echo '127.0.0.1 written-by-test' >> /etc/hosts; mkdir -p /etc/containerd/x; touch /etc/containers/registries.conf.d/x.conf");
  expect(fs.readFileSync("/etc/hosts", "utf8")).toBe(hostHosts);
  expect(snapshotDir("/etc/containerd")).toEqual(hostContainerd);
  expect(fs.readFileSync("/etc/ssl/certs/ca-certificates.crt", "utf8")).toBe(hostCaBundle);
  expect(fs.readFileSync("/etc/passwd", "utf8")).toBe(hostPasswd);
  expect(fs.existsSync("/etc/containers/registries.conf.d/x.conf")).toBe(false);
  expect(lab.readNodeFile(n, "/etc/hosts")).toContain("written-by-test");
  // no lab mount is visible in the machine's (this process's) mount namespace
  expect(mountsUnder(dir)).toEqual([]);
  expect(fs.readFileSync("/proc/self/mountinfo", "utf8")).not.toContain("lab-node");
});

test("stop leaves no process, no mount and no directory", async () => {
  expect(labProcesses(dir).length).toBeGreaterThan(10);
  const t = Date.now();
  const report = await lab.stop();
  process.stdout.write(`lab stop: ${Date.now() - t} ms, ${report.signalled} processes signalled\n`);
  expect(report.survivors).toEqual([]);
  expect(report.mounts).toEqual([]);
  expect(report.removed).toBe(true);
  expect(labProcesses(dir)).toEqual([]);
  expect(fs.existsSync(dir)).toBe(false);
  expect(fs.readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(dir);
});
