/**
 * How a failure on one node reaches the person running `pulumi`: through the real CLI, with a node that cannot be
 * configured as asked (CRI-O has no catch-all registry). Found while rendering, before any connection is made.
 */
import { ProgramStack, requireTools } from "./stack";

jest.setTimeout(300_000);

let stack: ProgramStack;
beforeAll(async () => {
  requireTools();
  stack = new ProgramStack(`errors${process.pid}`);
  await stack.init();
});
afterAll(() => stack?.dispose());

it("a node that cannot take the mirrors fails naming the node and the step, once, without a stack trace", async () => {
  await stack.configure({
    mirrors: [{ upstream: "*", endpoints: [{ url: "https://mirror.internal" }] }],
    // Port 1 on the loopback: nothing listens; rendering fails before a connection would be tried.
    nodes: [
      {
        name: "edge-7",
        host: "127.0.0.1",
        port: 1,
        privateKey: "unused",
        runtime: "cri-o",
        insecureIgnoreHostKey: true,
        dialErrorLimit: 1,
        perDialTimeout: 2,
      },
    ],
  });
  const r = await stack.run(["preview"], { expectFailure: true });
  const line = "registry-mirrors: node edge-7: step render: cannot configure CRI-O/containers";
  expect(r.out).toContain(line);
  expect(r.out).toContain('mirrors[0].upstream: containers-registries.conf has no catch-all registry; list each upstream instead of "*"');
  // Once in the diagnostics (the progress lines show it as it happens too), attributed to the component.
  const diagnostics = r.out.slice(r.out.indexOf("Diagnostics:"));
  expect(diagnostics.split(line).length - 1).toBe(1);
  expect(diagnostics).toMatch(/registry-mirrors:index:RegistryMirrors \(mirrors\):\n(.*\n)*?\s+error: registry-mirrors: node edge-7: step render/);
  expect(r.out).not.toContain("error serializing property");
  expect(r.out).not.toMatch(/\n\s+at .*\.(ts|js):\d+/); // no stack trace
});
