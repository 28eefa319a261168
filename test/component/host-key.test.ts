/** Host key parsing and fingerprints, compared with OpenSSH's own tools. */
import { execFileSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { fingerprint, parsePublicKey } from "../../src/component/host-key";

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
