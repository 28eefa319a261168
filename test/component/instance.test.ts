import { instanceName, instanceOwner } from "../../src/component/instance";
import { INSTANCE_ID_PATTERN } from "../../src/node/protocol";

describe("instance ids", () => {
  const base = { project: "infra", stack: "prod", name: "mirrors", urn: "urn:pulumi:prod::infra::registry-mirrors:index:RegistryMirrors::mirrors" };

  it("are project/stack/name and a hash of the URN: the same name under another parent is another instance", () => {
    const a = instanceOwner(base);
    const moved = instanceOwner({ ...base, urn: "urn:pulumi:prod::infra::my:Cluster$registry-mirrors:index:RegistryMirrors::mirrors" });
    expect(a.id).toMatch(/^infra\/prod\/mirrors#[0-9a-f]{8}$/);
    expect(moved.id.split("#")[0]).toBe("infra/prod/mirrors");
    expect(moved.id).not.toBe(a.id);
    expect(a.peers).toBe("infra/prod/");
  });

  it("make any name safe for the node's manifest", () => {
    const id = instanceOwner({ ...base, name: "team a, mirrors/ü" }).id;
    expect(id).toMatch(INSTANCE_ID_PATTERN);
    expect(instanceName("p", "s", "")).toBe("p/s/_");
  });

  it("retire the names of aliases (plain names, URNs, other stacks), and the own name for a move under an alias", () => {
    const owner = instanceOwner({
      ...base,
      name: "base-mirrors",
      aliases: [{ name: "mirrors" }, "urn:pulumi:staging::infra::registry-mirrors:index:RegistryMirrors::old", { stack: "legacy" }],
    });
    expect(owner.retire).toEqual(["infra/prod/mirrors", "infra/staging/old", "infra/legacy/base-mirrors"]);
    expect(instanceOwner(base).retire).toEqual([]);
  });
});
