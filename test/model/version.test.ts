import { compareVersions, normalizeVersion, parseRuntimeVersion, versionAtLeast } from "../../src/model/version";
import { RegistryMirrorsError, type RuntimeInfo } from "../../src/model/types";

describe("parseRuntimeVersion", () => {
  const accepted: Array<[string, RuntimeInfo]> = [
    // Kubernetes containerRuntimeVersion
    ["containerd://1.7.13", { kind: "containerd", version: "1.7.13" }],
    ["cri-o://1.29.1", { kind: "cri-o", version: "1.29.1" }],
    ["docker://24.0.7", { kind: "docker", version: "24.0.7" }],
    ["containerd://2.0.0-rc.1", { kind: "containerd", version: "2.0.0-rc.1" }],
    ["containerd://v2.1.4", { kind: "containerd", version: "2.1.4" }],
    ["containerd://1.7.11-k3s2", { kind: "containerd", version: "1.7.11" }],
    ["containerd://1.7.0+unknown", { kind: "containerd", version: "1.7.0" }],
    ["  containerd://1.6.28\n", { kind: "containerd", version: "1.6.28" }],
    // containerd --version
    ["containerd containerd.io 1.6.28 ae07eda36dd25f8a1b98dfbf587313b99c0190bb", { kind: "containerd", version: "1.6.28" }],
    ["containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1", { kind: "containerd", version: "1.6.20" }],
    ["containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376", { kind: "containerd", version: "2.1.4" }],
    ["containerd github.com/containerd/containerd 1.7.12", { kind: "containerd", version: "1.7.12" }],
    ["containerd github.com/containerd/containerd/v2 v2.0.0-beta.2-123-gabcdef0 abcdef0", { kind: "containerd", version: "2.0.0-beta.2" }],
    // crio --version
    ["crio version 1.29.1", { kind: "cri-o", version: "1.29.1" }],
    ["crio version 1.29.1\nVersion:        1.29.1\nGitCommit:      78e179ba8dd3ce462382a17049e8d1f770246af1\n", { kind: "cri-o", version: "1.29.1" }],
    [
      "Version:        1.29.1\nGitCommit:      78e179ba8dd3ce462382a17049e8d1f770246af1\nGitCommitDate:  2024-01-11T21:36:06Z\n",
      { kind: "cri-o", version: "1.29.1" },
    ],
    ["INFO[2022-01-01 00:00:00.000] Starting CRI-O, version: 1.22.1\nVersion:          1.22.1\n", { kind: "cri-o", version: "1.22.1" }],
    // dockerd --version / docker --version
    ["Docker version 24.0.7, build 311b9ff", { kind: "docker", version: "24.0.7" }],
    ["Docker version 20.10.21+dfsg1, build baeda1f", { kind: "docker", version: "20.10.21" }],
    ["Docker version 27.0.0-rc.1, build 1234567", { kind: "docker", version: "27.0.0-rc.1" }],
  ];

  test.each(accepted)("%j", (text, expected) => {
    expect(parseRuntimeVersion(text)).toEqual(expected);
  });

  const rejected: unknown[] = [
    "",
    "containerd",
    "containerd://",
    "containerd://latest",
    "rkt://1.0.0",
    "podman version 4.9.3",
    "Client: Docker Engine - Community\n Version:    24.0.7",
    "containerd containerd.io",
    "Docker version , build x",
    "crio version one",
    "containerd://1.2.3.4",
    42,
  ];

  test.each(rejected)("%j is rejected with path runtime and the accepted forms", (text) => {
    let error: unknown;
    try {
      parseRuntimeVersion(text as string);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RegistryMirrorsError);
    const { problems } = error as RegistryMirrorsError;
    expect(problems).toHaveLength(1);
    expect(problems[0].path).toBe("runtime");
    for (const form of ["containerd://1.7.13", "containerd --version", "crio version 1.29.1", "Docker version 24.0.7"]) {
      expect(problems[0].message).toContain(form);
    }
  });
});

describe("normalizeVersion", () => {
  test.each([
    ["1.7.13", "1.7.13"],
    ["v2.1.4", "2.1.4"],
    ["1.7", "1.7.0"],
    ["1.6.20~ds1", "1.6.20"],
    ["2.0.0-rc.1", "2.0.0-rc.1"],
    ["2.0.0-RC1", "2.0.0-rc.1"],
    ["18.09.1-ce", "18.9.1"],
    ["1.7.11-k3s2", "1.7.11"],
  ])("%s → %s", (input, expected) => {
    expect(normalizeVersion(input)).toBe(expected);
  });

  test.each(["", "latest", "1", "1.2.3.4", "1.7abc", "v"])("%j is not a version", (input) => {
    expect(normalizeVersion(input)).toBeUndefined();
  });
});

describe("compareVersions", () => {
  test.each([
    ["1.6.17", "1.6.9", 1],
    ["1.6.9", "1.6.17", -1],
    ["1.7.0", "1.7", 0],
    ["v2.0.0", "2.0.0~ds1", 0],
    ["2.0.0-rc.1", "2.0.0", -1],
    ["2.0.0-beta.2", "2.0.0-rc.1", -1],
    ["2.0.0-rc.2", "2.0.0-rc.10", -1],
    ["2.0.0-rc.1", "1.7.99", 1],
    ["10.0.0", "9.99.99", 1],
  ] as Array<[string, string, number]>)("%s vs %s → %i", (a, b, expected) => {
    expect(compareVersions(a, b)).toBe(expected);
  });

  test("throws on something that is not a version", () => {
    expect(() => compareVersions("latest", "1.0.0")).toThrow(RangeError);
  });
});

describe("versionAtLeast", () => {
  test("compares when the version is known", () => {
    expect(versionAtLeast("1.6.17", "1.6.17")).toBe(true);
    expect(versionAtLeast("1.7.0", "1.6.17")).toBe(true);
    expect(versionAtLeast("1.6.16", "1.6.17")).toBe(false);
    expect(versionAtLeast("2.0.0-rc.1", "2.0.0")).toBe(false);
    expect(versionAtLeast("2.0.7", "2.0.7")).toBe(true);
  });

  test("an unknown or unparsable version counts as too old", () => {
    expect(versionAtLeast(undefined, "1.0.0")).toBe(false);
    expect(versionAtLeast("latest", "1.0.0")).toBe(false);
  });

  test("throws when the minimum is not a version", () => {
    expect(() => versionAtLeast("1.0.0", "x")).toThrow(RangeError);
  });
});
