/**
 * Assertions that a pull travelled through one registry front and no other, read from the lab's nginx access logs.
 */
import { freePort } from "../../lab/proc";
import type { Lab, PushedImage, RegistryName, RegistryRequest } from "../../lab";

export const REGISTRIES: RegistryName[] = ["upstream", "mirror", "auth-mirror", "ns-mirror"];

/** Access-log positions of every registry front (to look only at what happens after this point). */
export type Marks = Record<RegistryName, number>;

export function mark(lab: Lab): Marks {
  return Object.fromEntries(REGISTRIES.map((r) => [r, lab.requestCount(r)])) as Marks;
}

/** Requests for the image's repository that each front saw since `marks`. */
export function seenSince(lab: Lab, img: PushedImage, marks: Marks): Record<RegistryName, RegistryRequest[]> {
  return Object.fromEntries(REGISTRIES.map((r) => [r, lab.requestsFor(r, img.repo, { from: marks[r] })])) as Record<RegistryName, RegistryRequest[]>;
}

/** Manifest requests for `ref` (a tag or a digest) among `reqs`. */
export function manifestRequests(reqs: RegistryRequest[], img: PushedImage, ref: string = img.tag): RegistryRequest[] {
  return reqs.filter((r) => r.path.endsWith(`/${img.repo}/manifests/${ref}`));
}

/** Compact form of requests for failure messages. */
export function show(reqs: RegistryRequest[]): string[] {
  return reqs.map(
    (r) =>
      `${r.method} ${r.path}${r.query ? `?${r.query}` : ""} ${r.status} ${r.userAgent.split(" ")[0]}${r.remoteUser ? ` user=${r.remoteUser}` : ""}`,
  );
}

/**
 * The image was served by `by` and no other front saw its repository: `by` answered the manifest request for
 * `ref` (tag by default) with 200, with `?ns=<ns>` when given (containerd adds it when a mirror serves another
 * registry), and every other front (the upstream included) has no request for the repository at all.
 */
export function expectServedOnlyBy(
  lab: Lab,
  img: PushedImage,
  marks: Marks,
  by: RegistryName,
  opts: { ns?: string; ref?: string; user?: string } = {},
): RegistryRequest[] {
  const seen = seenSince(lab, img, marks);
  const manifests = manifestRequests(seen[by], img, opts.ref ?? img.tag);
  const ok = manifests.filter(
    (r) => r.status === 200 && (opts.ns === undefined || r.params.ns === opts.ns) && (opts.user === undefined || r.remoteUser === opts.user),
  );
  expect({ by, manifestRequests: show(manifests), matching: ok.length > 0 }).toEqual({ by, manifestRequests: show(manifests), matching: true });
  if (opts.ns !== undefined) {
    // Every request the mirror got for this image (manifest, config, layer) names the upstream.
    expect(show(seen[by].filter((r) => r.params.ns !== opts.ns))).toEqual([]);
  }
  const others = Object.fromEntries(REGISTRIES.filter((r) => r !== by).map((r) => [r, show(seen[r])]));
  expect(others).toEqual(Object.fromEntries(REGISTRIES.filter((r) => r !== by).map((r) => [r, []])));
  return seen[by];
}

/** Runs `fn` with the upstream front stopped, and starts it again whatever happens. */
export async function withUpstreamDown<T>(lab: Lab, fn: () => Promise<T>): Promise<T> {
  await lab.upstreamDown();
  try {
    expect(await lab.upstreamIsUp()).toBe(false);
    return await fn();
  } finally {
    await lab.upstreamUp();
  }
}

/** A 127.0.0.1 port below 32768 that nothing listens on (nodes share the machine's network namespace). */
export async function closedPort(): Promise<number> {
  return freePort();
}

/** Result of a pull that is expected to fail: the error message (the test fails if the pull succeeded). */
export async function expectPullFails(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("the pull succeeded, but it was expected to fail");
}
