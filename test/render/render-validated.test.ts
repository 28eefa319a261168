/**
 * renderValidated: the renderer for mirrors validated once by the caller (the component validates its mirrors
 * once and renders up to twice per node), and renderNodeConfig, the public entry point that validates first.
 */
import * as validate from "../../src/model/validate";
import { RegistryMirrorsError, type Mirror } from "../../src";
import { renderNodeConfig, renderValidated } from "../../src/render";
import { SCENARIOS } from "./scenarios";

afterEach(() => jest.restoreAllMocks());

it.each(Object.entries(SCENARIOS))("%s: the same plan as renderNodeConfig, without validating the mirrors", (_name, input) => {
  const expected = renderNodeConfig(input);
  const validations = jest.spyOn(validate, "validateMirrors");
  expect(renderValidated(input)).toEqual(expected);
  expect(validations).not.toHaveBeenCalled();
});

it("renderNodeConfig validates the mirrors, once", () => {
  const validations = jest.spyOn(validate, "validateMirrors");
  renderNodeConfig(SCENARIOS[Object.keys(SCENARIOS)[0]]);
  expect(validations).toHaveBeenCalledTimes(1);
});

it("leaves the mirrors' problems to the caller, and still checks paths and the runtime", () => {
  // A field validation reports (unknown) but rendering never reads.
  const unchecked = [{ upstream: "docker.io", endpoints: [{ url: "https://m.internal" }], colour: "red" }] as unknown as Mirror[];
  const runtime = { kind: "containerd" as const, version: "1.7.22" };
  expect(() => renderNodeConfig({ mirrors: unchecked, runtime, liveConfig: "" })).toThrow(RegistryMirrorsError);
  expect(renderValidated({ mirrors: unchecked, runtime, liveConfig: "" }).files.map((f) => f.path)).toEqual([
    "/etc/containerd/certs.d/docker.io/hosts.toml",
  ]);
  expect(() => renderValidated({ mirrors: unchecked, runtime, liveConfig: "", paths: { hostsDir: "relative" } })).toThrow(/paths\.hostsDir/);
  expect(() => renderValidated({ mirrors: unchecked, runtime: { kind: "rkt" } as never })).toThrow(/unknown runtime "rkt"/);
});
