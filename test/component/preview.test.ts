/**
 * Preview (`pulumi preview --diff`): commands do not run, so what was read is unknown. With the runtime given,
 * the apply command must still be known and show every file as text; with `auto` it cannot be.
 */
import { HOST_KEY, installMocks, isUnknown, settle, unwrapSecret } from "./mocks";

const recorded = installMocks(true);
import * as rm from "../../src";

const connection = { host: "127.0.0.1", port: 2201, user: "root", privateKey: "KEY", hostKey: HOST_KEY };

beforeAll(async () => {
  new rm.RegistryMirrors("pv", {
    mirrors: [{ upstream: "docker.io", endpoints: [{ url: "http://10.0.0.5:5000" }] }],
    nodes: [
      { name: "given", connection, runtime: "containerd" },
      { name: "auto", connection },
    ],
  });
  await settle();
});

it("with the runtime given, the apply command is known and shows hosts.toml as text", () => {
  const apply = recorded.find((r) => r.name === "pv-given-apply")!;
  const [create] = unwrapSecret(apply.inputs.create);
  expect(isUnknown(create)).toBe(false);
  expect(create).toContain('server = "https://registry-1.docker.io"');
  expect(create).toContain('[host."http://10.0.0.5:5000"]');
});

it("with runtime auto and nothing read yet, the apply command is unknown", () => {
  const apply = recorded.find((r) => r.name === "pv-auto-apply")!;
  expect(isUnknown(apply.inputs.create)).toBe(true);
});

it("the read command itself is always known", () => {
  const read = recorded.find((r) => r.name === "pv-auto-read")!;
  expect(String(unwrapSecret(read.inputs.create)[0])).toContain("RM-RUNTIME");
});
