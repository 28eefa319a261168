/**
 * Several instances (components of one or of several stacks) on one node, at the level of the node agent: who owns
 * what, hand-over, conflicts, shared edits and the upgrade of a manifest without owners. The same through the real
 * engine and lab nodes: test/e2e/ownership.test.ts.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "fs";
import { dirname, join } from "path";
import type { Mirror } from "../../src";
import type { InstanceOwner } from "../../src/node/protocol";
import { sha256 } from "../../src/node/shell";
import { FakeNode, LIVE_CONFIG, SHELLS, type ShellName } from "./fake-node";

const DOCKER: Mirror = { upstream: "docker.io", endpoints: [{ url: "https://harbor.internal/v2/dockerhub" }] };
const GCR: Mirror = { upstream: "gcr.io", endpoints: [{ url: "https://harbor.internal/v2/gcr" }] };
const QUAY: Mirror = { upstream: "quay.io", endpoints: [{ url: "https://harbor.internal/v2/quay" }] };

const owner = (project: string, stack: string, name: string, extra: Partial<InstanceOwner> = {}): InstanceOwner => ({
  id: `${project}/${stack}/${name}#${sha256(`${project}${stack}${name}${extra.retire ?? ""}`).slice(0, 8)}`,
  peers: `${project}/${stack}/`,
  ...extra,
});
const BASE = owner("infra", "base", "mirrors");
const TEAM = owner("infra", "team-a", "mirrors");

let node: FakeNode;
let shell: ShellName;
beforeEach(() => (node = new FakeNode(shell)));
afterEach(() => node.dispose());

describe.each(Object.keys(SHELLS) as ShellName[])("under %s", (name) => {
  beforeAll(() => (shell = name));

  it("runs the agent with this shell", () => {
    const r = node.run(`readlink -f "$(command -v sh)"`);
    expect(r.stdout.trim()).toBe(SHELLS[name]);
  });

  /** Every file under the node's root except the state, the fake systemctl and its log: name → sha256. */
  function snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else out[p] = sha256(readFileSync(p, "utf8"));
      }
    };
    walk(join(node.root, "etc"));
    return out;
  }

  function ok(r: { status: number; stderr: string }) {
    if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  }

  describe.each([
    ["the first instance leaves first", [BASE, TEAM]],
    ["the second instance leaves first", [TEAM, BASE]],
  ])("two stacks with disjoint upstreams on one node: %s", (_, leaveOrder) => {
    it("each keeps its files; config.toml's edit stays until the last one leaves, then it is byte-identical", () => {
      ok(node.apply([DOCKER], { owner: BASE }).result);
      const team = node.apply([GCR], { owner: TEAM });
      ok(team.result);
      expect(team.plan.mainConfig).toBeUndefined(); // config_path is already there: the team instance shares the edit
      expect(existsSync(node.hostsToml("docker.io"))).toBe(true);
      expect(existsSync(node.hostsToml("gcr.io"))).toBe(true);
      expect(node.manifest()).toEqual(
        expect.arrayContaining([
          expect.stringMatching(new RegExp(`^f ${node.hostsToml("docker.io")} - \\S+ ${BASE.id}$`)),
          expect.stringMatching(new RegExp(`^f ${node.hostsToml("gcr.io")} - \\S+ ${TEAM.id}$`)),
          expect.stringMatching(new RegExp(`^m ${node.paths.containerdConfig} \\S+ \\S+ (${BASE.id},${TEAM.id}|${TEAM.id},${BASE.id})$`)),
        ]),
      );
      const configured = readFileSync(node.paths.containerdConfig, "utf8");

      const [first, last] = leaveOrder as InstanceOwner[];
      const firstLeaves = node.remove(first);
      ok(firstLeaves);
      expect(firstLeaves.report.removed).toEqual([node.hostsToml(first === BASE ? "docker.io" : "gcr.io")]);
      expect(existsSync(node.hostsToml(last === BASE ? "docker.io" : "gcr.io"))).toBe(true);
      expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(configured);
      expect(node.restarts()).toBe(1); // the install's restart only: nothing the runtime reads at start changed

      ok(node.remove(last));
      expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE_CONFIG);
      expect(existsSync(node.stateDir)).toBe(false);
      expect(existsSync(node.paths.hostsDir)).toBe(false);
      expect(node.restarts()).toBe(2);
    });
  });

  it("a third instance that would write an owned path fails naming the path and the owner; nothing changes", () => {
    ok(node.apply([DOCKER], { owner: BASE }).result);
    ok(node.apply([GCR], { owner: TEAM }).result);
    const before = snapshot();
    const manifest = node.manifest();
    const other = owner("apps", "prod", "mirrors");
    const r = node.apply([{ ...DOCKER, endpoints: [{ url: "https://other-mirror.internal" }] }, QUAY], { owner: other }).result;
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("step ownership");
    expect(r.stderr).toContain(`${node.hostsToml("docker.io")} belongs to ${BASE.id}`);
    expect(r.stderr).toContain(`This instance is ${other.id}`);
    expect(r.stderr).toContain('takeOver: ["infra/base/mirrors"]');
    expect(r.stderr).toContain("nothing was written");
    expect(snapshot()).toEqual(before);
    expect(existsSync(node.hostsToml("quay.io"))).toBe(false);
    expect(node.manifest()).toEqual(manifest);
  });

  it("a read shows an instance the content of its own files only: another stack's hosts.toml may hold credentials", () => {
    const secret: Mirror = {
      upstream: "docker.io",
      endpoints: [{ url: "https://harbor.internal", auth: { username: "robot", password: "base-only-s3cret" } }],
    };
    ok(node.apply([secret], { owner: BASE }).result);
    ok(node.apply([GCR], { owner: TEAM }).result);
    const token = Buffer.from("robot:base-only-s3cret").toString("base64");
    expect(Object.keys(node.read(TEAM).ownedFiles)).toEqual([node.hostsToml("gcr.io")]);
    expect(JSON.stringify(node.read(TEAM))).not.toContain(token);
    expect(Object.keys(node.read(BASE).ownedFiles)).toEqual([node.hostsToml("docker.io")]);
  });

  it("takeOver names the owner: the path moves to the new instance, and the old owner's removal leaves it", () => {
    ok(node.apply([DOCKER], { owner: TEAM }).result);
    const moved = { ...DOCKER, endpoints: [{ url: "https://base-mirror.internal" }] };
    const base = owner("infra", "base", "mirrors", { takeOver: ["infra/team-a/mirrors"] });
    const r = node.apply([moved], { owner: base });
    ok(r.result);
    expect(r.report.warnings).toEqual([expect.stringContaining(`${node.hostsToml("docker.io")} is taken over from ${TEAM.id}`)]);
    ok(node.remove(TEAM));
    expect(readFileSync(node.hostsToml("docker.io"), "utf8")).toContain("base-mirror.internal");
    ok(node.remove(base));
    expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE_CONFIG);
    expect(existsSync(node.stateDir)).toBe(false);
  });

  it("the same content from two instances is shared: it stays until both have left", () => {
    ok(node.apply([DOCKER], { owner: BASE }).result);
    ok(node.apply([DOCKER, GCR], { owner: TEAM }).result);
    expect(node.manifest().find((l) => l.startsWith(`f ${node.hostsToml("docker.io")} `))).toMatch(new RegExp(`${TEAM.id},${BASE.id}$`));
    ok(node.remove(BASE));
    expect(existsSync(node.hostsToml("docker.io"))).toBe(true);
    ok(node.remove(TEAM));
    expect(existsSync(node.hostsToml("docker.io"))).toBe(false);
    expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE_CONFIG);
  });

  describe("a renamed or moved component (an earlier instance of the same stack)", () => {
    const renamed = owner("infra", "base", "registry-mirrors");

    it("takes over its predecessor's files, changed or not; the predecessor's delete (which Pulumi runs last) leaves them", () => {
      ok(node.apply([DOCKER, GCR], { owner: BASE }).result);
      const changedGcr = { ...GCR, endpoints: [{ url: "https://gcr-mirror.internal" }] };
      const r = node.apply([DOCKER, changedGcr], { owner: renamed });
      ok(r.result);
      expect(r.report.warnings).toEqual([expect.stringContaining(`${node.hostsToml("gcr.io")} is taken over from ${BASE.id}`)]);
      const after = snapshot();
      const old = node.remove(BASE);
      ok(old);
      expect(old.report.removed).toEqual([]);
      expect(snapshot()).toEqual(after);
      expect(node.restarts()).toBe(1);
      ok(node.remove(renamed));
      expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE_CONFIG);
      expect(existsSync(node.stateDir)).toBe(false);
    });

    it("with aliases the predecessor's id is retired: the instance owns everything alone and its removal cleans up", () => {
      ok(node.apply([DOCKER], { owner: BASE }).result);
      const aliased = owner("infra", "base", "registry-mirrors", { retire: ["infra/base/mirrors"] });
      ok(node.apply([DOCKER], { owner: aliased }).result);
      expect(node.manifest().filter((l) => l.includes("#"))).toEqual(node.manifest().filter((l) => l.endsWith(aliased.id)));
      ok(node.remove(aliased)); // no delete of the old name ever runs with aliases
      expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE_CONFIG);
      expect(existsSync(node.stateDir)).toBe(false);
    });
  });

  it("a hand-written file at one of our paths is backed up with a warning naming the backup, and restored on removal", () => {
    const path = node.hostsToml("docker.io");
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, 'server = "https://hand-written.internal"\n');
    const r = node.apply([DOCKER], { owner: BASE });
    ok(r.result);
    const backup = r.report.warnings.join("\n").match(/kept as (\S+),/)?.[1];
    expect(backup).toBeDefined();
    expect(readFileSync(backup!, "utf8")).toBe('server = "https://hand-written.internal"\n');
    expect(r.result.stderr).toContain(`registry-mirrors: node node-a: warning: ${path} was not written by registry-mirrors`);
    ok(node.remove(BASE));
    expect(readFileSync(path, "utf8")).toBe('server = "https://hand-written.internal"\n');
  });

  it("a file someone changed after we wrote it is not removed with its instance; the original it replaced is put beside it", () => {
    const path = node.hostsToml("docker.io");
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, "# the original\n");
    ok(node.apply([DOCKER], { owner: BASE }).result);
    writeFileSync(path, "# edited by a person\n");
    const r = node.remove(BASE);
    ok(r);
    expect(r.report.warnings).toEqual([expect.stringContaining(`${path} was changed since registry-mirrors wrote it`)]);
    expect(readFileSync(path, "utf8")).toBe("# edited by a person\n");
    expect(readFileSync(`${path}.registry-mirrors-original`, "utf8")).toBe("# the original\n");
    expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE_CONFIG);
  });

  describe("a node written by a version without owners (manifest version 1)", () => {
    /** Rewrites the manifest as version 1 wrote it: no `v` line, four fields. */
    const downgrade = () => {
      const v1 = node
        .manifest()
        .filter((l) => !l.startsWith("v "))
        .map((l) =>
          l
            .split(" ")
            .slice(0, l.startsWith("d ") ? 2 : 4)
            .join(" "),
        );
      writeFileSync(join(node.stateDir, "manifest"), `${v1.join("\n")}\n`);
    };

    it("its instance's next apply takes the entries over in place, and nothing is lost", () => {
      ok(node.apply([DOCKER, GCR]).result);
      downgrade();
      const before = snapshot();
      const r = node.apply([DOCKER, GCR], { owner: BASE });
      ok(r.result);
      expect(r.report.written).toEqual([]);
      expect(snapshot()).toEqual(before);
      expect(node.manifest()[0]).toBe("v 2");
      expect(
        node
          .manifest()
          .filter((l) => /^[fm] /.test(l))
          .every((l) => l.endsWith(` ${BASE.id}`)),
      ).toBe(true);
      ok(node.apply([QUAY], { owner: TEAM }).result);
      ok(node.remove(BASE));
      expect(existsSync(node.hostsToml("quay.io"))).toBe(true);
      expect(existsSync(node.hostsToml("docker.io"))).toBe(false);
      ok(node.remove(TEAM));
      expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE_CONFIG);
      expect(existsSync(node.stateDir)).toBe(false);
    });

    it("another instance arriving first leaves the old entries alone; the last one to leave takes them too", () => {
      ok(node.apply([DOCKER]).result);
      downgrade();
      ok(node.apply([GCR], { owner: TEAM }).result);
      expect(existsSync(node.hostsToml("docker.io"))).toBe(true);
      expect(node.manifest()).toContain(node.manifest().find((l) => l.startsWith(`f ${node.hostsToml("docker.io")} `)));
      expect(node.manifest().find((l) => l.startsWith(`f ${node.hostsToml("docker.io")} `))).toMatch(/ -$/);
      ok(node.remove(TEAM));
      expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE_CONFIG);
      expect(existsSync(node.stateDir)).toBe(false);
    });
  });

  it("two instances applying at the same moment are serialised on the node and both land", async () => {
    const a = node.applyCommand([DOCKER], { owner: BASE });
    const b = node.applyCommand([GCR], { owner: TEAM });
    // Both planned from the same read (as two stacks' reads that ran before either apply).
    const [ra, rb] = await Promise.all([node.runAsync(a.cmd.command, a.cmd.stdin), node.runAsync(b.cmd.command, b.cmd.stdin)]);
    ok(ra);
    ok(rb);
    expect(existsSync(node.hostsToml("docker.io"))).toBe(true);
    expect(existsSync(node.hostsToml("gcr.io"))).toBe(true);
    expect(node.restarts()).toBe(1); // the second found config.toml already as it planned it
    ok(node.remove(TEAM));
    ok(node.remove(BASE));
    expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE_CONFIG);
  });
});
