/** Host key parsing and fingerprints, compared with OpenSSH's own tools. */
import { execFileSync, spawnSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { fingerprint, hostKeyCheckScript, hostKeysCheckScript, parseHostKeyChecks, parsePublicKey } from "../../src/component/host-key";
import { freePort } from "../lab/proc";
import { ThrowawaySshd } from "../lab/sshd";

describe.each(["ed25519", "ecdsa", "rsa"])("a %s key", (type) => {
  const dir = mkdtempSync(join(tmpdir(), "hostkey-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-f", join(dir, "key")]);
  const line = readFileSync(join(dir, "key.pub"), "utf8").trim();

  it("has the fingerprint ssh-keygen -l prints", () => {
    const openssh = execFileSync("ssh-keygen", ["-l", "-f", join(dir, "key.pub")], { encoding: "utf8" }).split(" ")[1];
    expect(fingerprint(line)).toBe(openssh);
  });

  it("parses with or without its comment", () => {
    expect(parsePublicKey(line)?.type).toBe(line.split(" ")[0]);
    expect(parsePublicKey(line.split(" ").slice(0, 2).join(" "))).toEqual(parsePublicKey(line));
  });
});

it("rejects what is not a public key line: a fingerprint, a private key, a blob of another type", () => {
  expect(parsePublicKey("SHA256:iyGWWU+MDiYSsAO7kKYAeEMylyVIASz+tfry91OwSsM")).toBeUndefined();
  expect(parsePublicKey("-----BEGIN OPENSSH PRIVATE KEY-----")).toBeUndefined();
  expect(parsePublicKey("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIJU3550rSCMuhoFs7z8/4H4mqypnXbJwxI5plrBg4J5x")).toBeUndefined();
  expect(parsePublicKey("")).toBeUndefined();
});

describe("the local host-key check script, against a real sshd", () => {
  const dir = mkdtempSync(join(tmpdir(), "hostkey-sshd-"));
  const sshd = new ThrowawaySshd(dir);
  const key = (name: string, type: string) => {
    execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-f", join(dir, name)]);
    return readFileSync(join(dir, `${name}.pub`), "utf8").trim();
  };
  const check = (p: number, pinned: string) =>
    spawnSync("sh", ["-c", hostKeyCheckScript("n1", "127.0.0.1", p, pinned)], { encoding: "utf8", timeout: 20_000 });
  let served = "";
  let port = 0;

  beforeAll(async () => {
    await sshd.start({ hostKeyTypes: ["ed25519", "rsa"] });
    served = sshd.hostKey;
    port = sshd.port;
  });
  afterAll(async () => {
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("passes and prints the fingerprint when the node shows the pinned key", () => {
    const r = check(port, served);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(fingerprint(served));
  });

  it("fails with both fingerprints when it shows another key of the pinned type", () => {
    const other = key("other", "ed25519");
    const r = check(port, other);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `the SSH host key at 127.0.0.1:${port} changed: pinned ${fingerprint(other)} (ssh-ed25519), the node presents ${fingerprint(served)}. Nothing was sent to it.`,
    );
  });

  it("fails naming what it offers when it has no key of the pinned type", () => {
    const ecdsa = key("ecdsa", "ecdsa");
    const r = check(port, ecdsa);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the node presents no ecdsa-sha2-nistp256 key \(it offers: ssh-ed25519,ssh-rsa\)/);
  });

  it("checks several nodes in one script, each with its own verdict, and always succeeds itself", async () => {
    const other = key("other2", "ed25519");
    const script = hostKeysCheckScript([
      { node: "good", host: "127.0.0.1", port, hostKey: served },
      { node: "bad", host: "127.0.0.1", port, hostKey: other },
      { node: "hidden", proxy: true },
      { node: "gone", host: "127.0.0.1", port: await freePort(), hostKey: served },
    ]);
    const r = spawnSync("sh", ["-c", script], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(0);
    const verdicts = parseHostKeyChecks(r.stdout);
    expect([...verdicts.keys()]).toEqual(["good", "bad", "hidden", "gone"]);
    expect(verdicts.get("good")).toEqual({ code: 0, lines: [fingerprint(served)] });
    expect(verdicts.get("bad")!.code).toBe(1);
    expect(verdicts.get("bad")!.lines.join("\n")).toContain(
      `node bad: step host-key: the SSH host key at 127.0.0.1:${port} changed: pinned ${fingerprint(other)}`,
    );
    expect(verdicts.get("hidden")).toEqual({ code: 0, lines: ["node hidden is behind a proxy: its host key is checked by the SSH connection"] });
    expect(verdicts.get("gone")!.code).toBe(0);
    expect(verdicts.get("gone")!.lines).toContain("unanswered");
  });

  it("passes a node that does not answer: the connection will give its own error", async () => {
    const r = check(await freePort(), served);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe("unanswered");
  });
});
