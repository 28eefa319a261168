/**
 * Which registries a cluster pulls from, and which of them a spec mirrors: the Harbor guide's
 * `kubectl get pods -A -o jsonpath='{..image}'`, done properly — every container of every pod (init and ephemeral
 * containers included), Docker Hub short names normalised (`nginx` → `docker.io/library/nginx`), digests kept,
 * grouped by registry with counts, and a proposed spec for the registries no mirror covers.
 */
import { canonicalUpstream } from "../model/validate";
import type { Mirror } from "../model/types";
import { mirrorForImage, parseImageReference } from "../node/checks";
import { resolveKubeconfig } from "./kubeconfig";
import { apiGetJson, type ListNodesOptions } from "./nodes";

/** One image as the cluster runs it. */
export interface RunningImage {
  /** The reference as written in the pod spec. */
  readonly image: string;
  /** Where it runs: `namespace/pod/container`. */
  readonly where: string;
}

/** One registry the cluster pulls from. */
export interface RegistryUsage {
  /** The registry (`docker.io`, `registry.k8s.io`, `harbor.corp:8443`). */
  readonly registry: string;
  /** Containers (of all pods) whose image is from it. */
  readonly containers: number;
  /** Distinct pods among them. */
  readonly pods: number;
  /** Its distinct images, normalised (`docker.io/library/nginx:1.27`, `…@sha256:…` kept), sorted. */
  readonly images: readonly string[];
  /** The upstream of the spec's mirror that serves it (`"*"` for the catch-all), if any. */
  readonly coveredBy?: string;
}

/** What {@link suggestMirrors} found. */
export interface Suggestion {
  /** Every registry, most used first. */
  readonly registries: readonly RegistryUsage[];
  /** Images that are no valid reference, with where they run. */
  readonly unparsable: readonly RunningImage[];
  /** The spec's mirrors followed by one proposed mirror per registry none covers. */
  readonly proposed: readonly Mirror[];
}

/** Options of {@link suggestMirrors}. */
export interface SuggestOptions {
  /**
   * Base URL of the proxy cache the proposal points at, one path per registry (Harbor's proxy projects).
   * @default "https://harbor.example.com"
   */
  readonly mirrorBase?: string;
}

/** The images of a pod list (`v1.PodList` as JSON): containers, init containers and ephemeral containers. */
export function podImages(podList: unknown): RunningImage[] {
  const items = (podList as { items?: unknown[] })?.items;
  if (!Array.isArray(items)) throw new Error("not a PodList: it has no items");
  const out: RunningImage[] = [];
  for (const pod of items as { metadata?: { namespace?: string; name?: string }; spec?: Record<string, unknown> }[]) {
    const at = `${pod.metadata?.namespace ?? "?"}/${pod.metadata?.name ?? "?"}`;
    for (const key of ["initContainers", "containers", "ephemeralContainers"]) {
      const list = pod.spec?.[key];
      if (!Array.isArray(list)) continue;
      for (const c of list as { name?: string; image?: unknown }[]) {
        if (typeof c.image === "string" && c.image !== "") out.push({ image: c.image, where: `${at}/${c.name ?? "?"}` });
      }
    }
  }
  return out;
}

/** A proxy project name for a registry: `docker.io` → `docker-io`. */
function projectName(registry: string): string {
  return registry.replace(/[^A-Za-z0-9]+/g, "-").toLowerCase();
}

/**
 * Groups running images by registry, tells which ones `mirrors` covers, and proposes a mirror for each other one.
 * Pure: the same images give the same answer.
 */
export function suggestMirrors(images: readonly RunningImage[], mirrors: readonly Mirror[] = [], options: SuggestOptions = {}): Suggestion {
  const base = (options.mirrorBase ?? "https://harbor.example.com").replace(/\/+$/, "");
  const byRegistry = new Map<string, { containers: number; pods: Set<string>; images: Set<string> }>();
  const unparsable: RunningImage[] = [];
  for (const running of images) {
    const ref = parseImageReference(running.image);
    if (typeof ref === "string") {
      unparsable.push(running);
      continue;
    }
    const entry = byRegistry.get(ref.registry) ?? { containers: 0, pods: new Set<string>(), images: new Set<string>() };
    entry.containers += 1;
    entry.pods.add(running.where.split("/").slice(0, 2).join("/"));
    entry.images.add(ref.full);
    byRegistry.set(ref.registry, entry);
  }
  const registries: RegistryUsage[] = [...byRegistry.entries()]
    .map(([registry, e]) => {
      const covering = mirrorForImage(mirrors as Mirror[], { registry, repository: "", version: "", full: registry });
      return {
        registry,
        containers: e.containers,
        pods: e.pods.size,
        images: [...e.images].sort(),
        ...(covering ? { coveredBy: covering.upstream === "*" ? "*" : canonicalUpstream(covering.upstream) } : {}),
      };
    })
    .sort((a, b) => b.containers - a.containers || (a.registry < b.registry ? -1 : 1));
  const proposed: Mirror[] = [
    ...mirrors,
    ...registries
      .filter((r) => r.coveredBy === undefined)
      .map((r) => ({ upstream: r.registry, endpoints: [{ url: `${base}/v2/${projectName(r.registry)}` }] })),
  ];
  return { registries, unparsable, proposed };
}

/**
 * Every container image of every pod of the cluster (all namespaces, all pages).
 *
 * @throws `Error` naming the server for a failed request; {@link RegistryMirrorsError} for an unusable kubeconfig.
 */
export async function listPodImages(opts: Omit<ListNodesOptions, "labelSelector">): Promise<RunningImage[]> {
  const conn = resolveKubeconfig(opts.kubeconfig, { context: opts.context });
  const images: RunningImage[] = [];
  let cont: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const q = new URLSearchParams({ limit: String(opts.pageSize ?? 500) });
    if (cont) q.set("continue", cont);
    const list = (await apiGetJson(conn, `/api/v1/pods?${q.toString()}`, opts.timeoutMs)) as { metadata?: { continue?: string } };
    images.push(...podImages(list));
    cont = list.metadata?.continue || undefined;
    if (!cont) break;
  }
  return images;
}
