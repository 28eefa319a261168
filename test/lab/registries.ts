/**
 * Lab registries: docker-registry (distribution 2.8, Debian) backends and nginx fronts, all on 127.0.0.1.
 *
 * - `upstream`: backend `docker-registry` on a free port; nginx front "upstream" on 127.0.0.1:443 (TLS, certificate
 *   from the lab public CA, covering docker.io, registry-1.docker.io, … ). `upstreamDown()` stops only this front.
 * - `mirror`: pull-through `docker-registry` (`proxy.remoteurl` = the upstream BACKEND over plain HTTP) behind an
 *   nginx plain-HTTP front.
 * - `auth-mirror`: another pull-through backend behind an nginx TLS front (private CA) with basic auth.
 * - `ns-mirror`: nginx front mapping `/v2/test-namespace/<rest>` to the `mirror` backend's `/v2/<rest>`.
 * Every front writes a JSON access log (host header, SNI, request, user agent, status, basic-auth user).
 */
import * as fs from "fs";
import * as path from "path";
import type { RegistryRequest } from "./types";

export const NS_PREFIX = "/v2/test-namespace";

export function registryConfig(dataDir: string, port: number, proxyRemote?: string): string {
  return `# docker-registry (distribution) of the registry-mirrors test lab
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: ${dataDir}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${port}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
${proxyRemote ? `proxy:\n  remoteurl: ${proxyRemote}\n` : ""}`;
}

const LOG_FORMAT = `log_format labjson escape=json '{"time":"$time_iso8601","msec":"$msec","method":"$request_method",'
    '"uri":"$request_uri","host":"$http_host","sni":"$ssl_server_name","ua":"$http_user_agent",'
    '"status":"$status","user":"$remote_user"}';`;

function nginxHead(prefix: string): string {
  return `# nginx of the registry-mirrors test lab (generated)
daemon off;
master_process on;
worker_processes 1;
user root;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log info;
events { worker_connections 512; }
http {
  ${LOG_FORMAT}
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  client_max_body_size 0;
  proxy_buffering off;
  proxy_request_buffering off;
  proxy_http_version 1.1;
  proxy_read_timeout 120s;
  proxy_connect_timeout 5s;
  server_tokens off;
`;
}

const proxyHeaders = `      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header Authorization "";`;

/** nginx config of the upstream TLS front on 127.0.0.1:443. */
export function nginxUpstreamConf(prefix: string, o: { cert: string; key: string; backendPort: number; log: string }): string {
  return `${nginxHead(prefix)}
  server {
    listen 127.0.0.1:443 ssl;
    server_name _;
    ssl_certificate ${o.cert};
    ssl_certificate_key ${o.key};
    access_log ${o.log} labjson;
    location / {
      proxy_pass http://127.0.0.1:${o.backendPort};
${proxyHeaders}
    }
  }
}
`;
}

export interface FrontsConf {
  mirrorPort: number;
  mirrorBackendPort: number;
  mirrorLog: string;
  authPort: number;
  authBackendPort: number;
  authCert: string;
  authKey: string;
  htpasswd: string;
  authLog: string;
  nsPort: number;
  nsLog: string;
}

/** nginx config of the mirror fronts (plain mirror, auth mirror, namespaced mirror). */
export function nginxFrontsConf(prefix: string, o: FrontsConf): string {
  return `${nginxHead(prefix)}
  # plain HTTP pull-through mirror
  server {
    listen 127.0.0.1:${o.mirrorPort};
    access_log ${o.mirrorLog} labjson;
    location / {
      proxy_pass http://127.0.0.1:${o.mirrorBackendPort};
${proxyHeaders}
    }
  }
  # HTTPS mirror: private CA + basic auth
  server {
    listen 127.0.0.1:${o.authPort} ssl;
    server_name _;
    ssl_certificate ${o.authCert};
    ssl_certificate_key ${o.authKey};
    access_log ${o.authLog} labjson;
    location / {
      auth_basic "registry-mirrors lab auth mirror";
      auth_basic_user_file ${o.htpasswd};
      add_header Docker-Distribution-Api-Version registry/2.0 always;
      proxy_pass http://127.0.0.1:${o.authBackendPort};
${proxyHeaders}
    }
  }
  # namespaced mirror: ${NS_PREFIX}/<rest> -> mirror backend /v2/<rest> (containerd override_path = true)
  server {
    listen 127.0.0.1:${o.nsPort};
    access_log ${o.nsLog} labjson;
    location = /v2/ {
      proxy_pass http://127.0.0.1:${o.mirrorBackendPort}/v2/;
${proxyHeaders}
    }
    location ${NS_PREFIX}/ {
      proxy_pass http://127.0.0.1:${o.mirrorBackendPort}/v2/;
${proxyHeaders}
    }
    location / {
      return 404 '{"errors":[{"code":"NAME_UNKNOWN","message":"outside ${NS_PREFIX}"}]}';
    }
  }
}
`;
}

export function nginxDirs(prefix: string): void {
  for (const d of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) fs.mkdirSync(path.join(prefix, "tmp", d), { recursive: true });
}

/** Parse one JSON access-log line (see {@link LOG_FORMAT}). */
export function parseAccessLine(line: string): RegistryRequest | undefined {
  let o: Record<string, string>;
  try {
    o = JSON.parse(line) as Record<string, string>;
  } catch {
    return undefined;
  }
  const uri = o.uri ?? "";
  const qi = uri.indexOf("?");
  const p = qi >= 0 ? uri.slice(0, qi) : uri;
  const query = qi >= 0 ? uri.slice(qi + 1) : "";
  const params: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(query)) params[k] = v;
  return {
    time: o.time ?? "",
    method: o.method ?? "",
    path: p,
    query,
    params,
    host: o.host ?? "",
    sni: o.sni ?? "",
    userAgent: o.ua ?? "",
    status: parseInt(o.status ?? "0", 10),
    remoteUser: o.user ?? "",
  };
}
