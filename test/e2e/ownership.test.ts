/**
 * Several stacks on one lab node through the real engine (pulumi CLI, language host, pulumi-resource-command from the
 * plugin cache): each stack's component owns its files, renames hand them over, conflicts are refused before
 * anything is written, concurrent updates are serialised on the node, and the last one to leave restores the node.
 */
import { startLab, type Lab } from "../lab";
import { labNodeConfig, ProgramStack, requireTools } from "./stack";

jest.setTimeout(600_000);

const NODE = "node1";
const CONFIG_TOML = "/etc/containerd/config.toml";
const STATE = "/var/lib/registry-mirrors";
const hostsToml = (upstream: string) => `/etc/containerd/certs.d/${upstream}/hosts.toml`;
const HAND_WRITTEN = 'server = "https://quay.io"\n# written by hand before registry-mirrors\n';

describe("two stacks, one node", () => {
  let lab: Lab;
  let original = "";
  let node: Record<string, unknown>;
  const stacks: ProgramStack[] = [];
  let base: ProgramStack;
  let team: ProgramStack;

  const stack = async (name: string): Promise<ProgramStack> => {
    const s = new ProgramStack(`${name}${process.pid}`);
    stacks.push(s);
    await s.init();
    return s;
  };
  const configure = (s: ProgramStack, mirrors: { upstream: string; url: string }[], extra: Record<string, unknown> = {}) =>
    s.configure({
      mirrors: mirrors.map((m) => ({ upstream: m.upstream, endpoints: [{ url: m.url }] })),
      nodes: [node],
      healthTimeoutSeconds: 10,
      ...extra,
    });
  const up = (s: ProgramStack, opts: { expectFailure?: boolean } = {}) => s.run(["up", "--yes", "--skip-preview"], opts);
  const destroy = (s: ProgramStack) => s.run(["destroy", "--yes", "--skip-preview"]);
  const id = (s: ProgramStack, name = "mirrors") => `${s.name}/${s.stack}/${name}`;
  /** Every file registry-mirrors may touch on the node, with its sha256. */
  const files = () => lab.execOk(NODE, `find /etc/containerd ${STATE} -type f 2>/dev/null | sort | xargs -r sha256sum`);
  const expectPristine = () => {
    expect(lab.tryReadNodeFile(NODE, CONFIG_TOML)).toBe(original);
    expect(lab.nodeFileExists(NODE, STATE)).toBe(false);
    for (const u of ["docker.io", "gcr.io"]) expect(lab.nodeFileExists(NODE, `/etc/containerd/certs.d/${u}`)).toBe(false);
    expect(lab.tryReadNodeFile(NODE, hostsToml("quay.io"))).toBe(HAND_WRITTEN);
  };

  beforeAll(async () => {
    requireTools();
    lab = await startLab({ nodes: [{ name: NODE, runtime: "containerd" }], waitForOtherLabMs: 900_000 });
    node = labNodeConfig(lab.describe().nodes[0]);
    original = lab.tryReadNodeFile(NODE, CONFIG_TOML) ?? "";
    // A hosts.toml someone wrote by hand, at a path the team stack will configure.
    lab.writeNodeFile(NODE, hostsToml("quay.io"), HAND_WRITTEN);
    base = await stack("base");
    team = await stack("team");
  }, 1_200_000);

  afterAll(async () => {
    for (const s of stacks.reverse()) await s.dispose().catch(() => undefined);
    await lab?.stop();
  });

  const mirror = () => lab.registry("mirror").url;
  /** Another mirror that answers (each apply probes its endpoints first). */
  const elsewhere = () => lab.registry("ns-mirror").url;
  const baseMirrors = () => [{ upstream: "docker.io", url: mirror() }];
  const teamMirrors = () => [
    { upstream: "gcr.io", url: `${mirror()}/v2/gcr` },
    { upstream: "quay.io", url: `${mirror()}/v2/quay` },
  ];

  test.each([
    ["the first stack is destroyed first", false],
    ["the second stack is destroyed first", true],
  ])("disjoint upstreams coexist through up, up, destroy, destroy: %s", async (_, teamFirst) => {
    await configure(base, baseMirrors());
    await configure(team, teamMirrors());
    await up(base);
    await up(team);
    expect(lab.readNodeFile(NODE, hostsToml("docker.io"))).toContain(mirror());
    expect(lab.readNodeFile(NODE, hostsToml("gcr.io"))).toContain("/v2/gcr");
    expect(lab.readNodeFile(NODE, hostsToml("quay.io"))).toContain("/v2/quay");
    const configured = lab.readNodeFile(NODE, CONFIG_TOML);
    expect(configured).toContain("config_path");
    // The hand-written quay.io file is backed up, and the team stack's report names the backup.
    const reports = await team.reports<Record<string, { warnings: string[] }>>();
    expect(reports[NODE].warnings.join("\n")).toMatch(
      new RegExp(
        `${hostsToml("quay.io")} was not written by registry-mirrors: it is replaced, and the original, kept as ${STATE}/backup/\\w+, is put back`,
      ),
    );

    const [first, last] = teamFirst ? [team, base] : [base, team];
    await destroy(first);
    expect(lab.readNodeFile(NODE, CONFIG_TOML)).toBe(configured);
    for (const u of first === base ? ["docker.io"] : ["gcr.io"]) expect(lab.nodeFileExists(NODE, hostsToml(u))).toBe(false);
    for (const u of last === base ? ["docker.io"] : ["gcr.io", "quay.io"]) expect(lab.readNodeFile(NODE, hostsToml(u))).toContain(mirror());
    expect((await last.reports<Record<string, { verification: string }>>())[NODE].verification).toBe("ok");
    await destroy(last);
    expectPristine();
  });

  test("two stacks running pulumi up at the same moment both succeed and leave both sets of files", async () => {
    const [a, b] = await Promise.all([up(base), up(team)]);
    expect(a.out).toMatch(/created/);
    expect(b.out).toMatch(/created/);
    expect(lab.readNodeFile(NODE, hostsToml("docker.io"))).toContain(mirror());
    expect(lab.readNodeFile(NODE, hostsToml("gcr.io"))).toContain("/v2/gcr");
    expect(lab.readNodeFile(NODE, CONFIG_TOML)).toContain("config_path");
  });

  test("a third stack configuring an upstream another stack owns fails naming the owner; nothing on the node changes", async () => {
    const other = await stack("other");
    await configure(other, [
      { upstream: "docker.io", url: elsewhere() },
      { upstream: "ghcr.io", url: mirror() },
    ]);
    const before = await files();
    const r = await up(other, { expectFailure: true });
    expect(r.out).toContain(`step ownership`);
    expect(r.out).toContain(`${hostsToml("docker.io")} belongs to ${id(base)}#`);
    expect(r.out).toContain(`This instance is ${id(other)}#`);
    expect(r.out).toContain(`takeOver: ["${id(base)}"]`);
    expect(r.out).toContain("nothing was written");
    expect(await files()).toBe(before);
    expect(lab.nodeFileExists(NODE, "/etc/containerd/certs.d/ghcr.io")).toBe(false);

    // Taken over as the message says: the path is the third stack's now, and the base stack's destroy leaves it.
    await configure(other, [{ upstream: "docker.io", url: elsewhere() }], { takeOver: [id(base)] });
    await up(other);
    expect(lab.readNodeFile(NODE, hostsToml("docker.io"))).toContain(elsewhere());
    await destroy(other);
    expect(lab.nodeFileExists(NODE, hostsToml("docker.io"))).toBe(false); // the last owner left
    await up(base); // nothing in base's inputs changed: the node is not touched again
    await base.run([
      "up",
      "--yes",
      "--skip-preview",
      "--replace",
      `urn:pulumi:${base.stack}::${base.name}::registry-mirrors:index:RegistryMirrors$command:remote:Command::mirrors-${NODE}-apply`,
    ]);
    expect(lab.readNodeFile(NODE, hostsToml("docker.io"))).toContain(mirror());
  });

  test("a renamed component keeps every file: the new instance takes them over, the old one's delete leaves them", async () => {
    const before = await files();
    const hosts = lab.readNodeFile(NODE, hostsToml("docker.io"));
    await configure(base, baseMirrors(), { name: "base-mirrors" });
    const r = await up(base);
    expect(r.out).toMatch(/created/);
    expect(r.out).toMatch(/deleted/);
    expect(lab.readNodeFile(NODE, hostsToml("docker.io"))).toBe(hosts);
    expect(lab.readNodeFile(NODE, hostsToml("gcr.io"))).toContain("/v2/gcr");
    expect(lab.readNodeFile(NODE, CONFIG_TOML)).toContain("config_path");
    expect((await files()).split("\n").filter((l) => !l.includes(STATE))).toEqual(before.split("\n").filter((l) => !l.includes(STATE)));
    expect(lab.readNodeFile(NODE, `${STATE}/manifest`)).toContain(id(base, "base-mirrors"));
    expect(lab.readNodeFile(NODE, `${STATE}/manifest`)).not.toContain(`${id(base)}#`);
  });

  test("a rename with formerNames (Pulumi aliases) is an update in place and keeps every file", async () => {
    const hosts = lab.readNodeFile(NODE, hostsToml("docker.io"));
    await configure(base, baseMirrors(), { name: "mirrors-base", formerNames: ["base-mirrors"] });
    const r = await up(base);
    expect(r.out).not.toMatch(/created|deleted/);
    expect(r.out).toMatch(/updated/);
    expect(lab.readNodeFile(NODE, hostsToml("docker.io"))).toBe(hosts);
    expect(lab.readNodeFile(NODE, `${STATE}/manifest`)).toContain(id(base, "mirrors-base"));
    expect(lab.readNodeFile(NODE, `${STATE}/manifest`)).not.toContain(id(base, "base-mirrors"));
  });

  test("after the last instance is destroyed, config.toml is byte-identical to the original and nothing of ours is left", async () => {
    await destroy(team);
    expect(lab.readNodeFile(NODE, hostsToml("docker.io"))).toContain(mirror());
    await destroy(base);
    expectPristine();
  });
});
