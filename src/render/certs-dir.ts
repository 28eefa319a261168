import type { Mirror, Problem } from "../model/types";
import { joinPath, parseEndpointUrl, pemFile } from "./common";
import type { PlannedFile } from "./types";

/**
 * Docker-style certificate directories (`<certsDir>/<host:port>/ca.crt`, `client.cert`, `client.key`), read
 * by Docker Engine and by containers/image (CRI-O, podman, skopeo). They are per host, so two endpoints on one
 * host must agree on their certificates.
 */
export function certsDirFiles(mirrors: Mirror[], certsDir: string, runtimeName: string, problems: Problem[]): PlannedFile[] {
  const byPath = new Map<string, { file: PlannedFile; at: string }>();
  const add = (at: string, file: PlannedFile): void => {
    const existing = byPath.get(file.path);
    if (existing && existing.file.content !== file.content) {
      problems.push({
        path: at,
        message: `${runtimeName} reads certificates per host from ${file.path}, and ${existing.at} sets a different one for the same host; use the same certificate for both endpoints`,
      });
      return;
    }
    byPath.set(file.path, { file, at });
  };
  mirrors.forEach((mirror, i) =>
    mirror.endpoints.forEach((endpoint, j) => {
      const at = `mirrors[${i}].endpoints[${j}]`;
      const dir = joinPath(certsDir, parseEndpointUrl(endpoint.url).hostPort);
      if (endpoint.caCert) add(`${at}.caCert`, { path: joinPath(dir, "ca.crt"), content: pemFile(endpoint.caCert), mode: 0o644 });
      if (endpoint.clientCert && endpoint.clientKey) {
        add(`${at}.clientCert`, { path: joinPath(dir, "client.cert"), content: pemFile(endpoint.clientCert), mode: 0o644 });
        add(`${at}.clientKey`, { path: joinPath(dir, "client.key"), content: pemFile(endpoint.clientKey), mode: 0o600, secret: true });
      }
    }),
  );
  return [...byPath.values()].map((v) => v.file);
}
