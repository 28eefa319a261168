/** Lab certificates made with the `openssl` CLI (EC P-256, 30 days), all inside the lab dir. */
import * as fs from "fs";
import * as path from "path";
import { runOk } from "./proc";

export interface CertFiles {
  key: string;
  cert: string;
  pem: string;
}

/** Create a self-signed CA `DIR/<name>.crt` / `.key`. */
export async function makeCa(dir: string, name: string, cn: string): Promise<CertFiles> {
  fs.mkdirSync(dir, { recursive: true });
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  await runOk(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "30",
      "-subj",
      `/O=registry-mirrors lab/CN=${cn}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    { timeoutMs: 20_000 },
  );
  return { key, cert, pem: fs.readFileSync(cert, "utf8") };
}

/** Create a server certificate for `dnsNames` (+ IP 127.0.0.1) signed by `ca`. */
export async function makeServerCert(dir: string, name: string, ca: CertFiles, dnsNames: string[]): Promise<CertFiles> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.crt`);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(
    ext,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      `subjectAltName=${[...dnsNames.map((d) => `DNS:${d}`), "IP:127.0.0.1"].join(",")}`,
      "",
    ].join("\n"),
  );
  await runOk(
    "openssl",
    [
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      csr,
      "-subj",
      `/O=registry-mirrors lab/CN=${dnsNames[0]}`,
    ],
    { timeoutMs: 20_000 },
  );
  await runOk(
    "openssl",
    ["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", cert, "-days", "30", "-extfile", ext],
    { timeoutMs: 20_000 },
  );
  return { key, cert, pem: fs.readFileSync(cert, "utf8") };
}
