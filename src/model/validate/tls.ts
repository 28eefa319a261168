/** PEM certificates and private keys of an endpoint. */
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { type Problem } from "../types";
import { describe, optionalField } from "./common";
/** One `-----BEGIN X----- … -----END X-----` block. */
export interface PemBlock {
  label: string;
  text: string;
}

/** Splits PEM text into its blocks; text between blocks (comments) is ignored. */
export function pemBlocks(text: string): PemBlock[] {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
  return Array.from(text.matchAll(re), (m) => ({ label: m[1], text: m[0] }));
}

/** Problems common to all PEM fields: type, NUL, a file path given instead of content, truncated blocks. */
export function pemTextProblem(value: unknown, kind: string): string | undefined {
  if (typeof value !== "string") return `must be PEM text (${kind}), got ${describe(value)}`;
  if (value.includes("\0")) return "contains a NUL character; remove it (is this a binary DER file? convert it with openssl to PEM)";
  if (!value.includes("-----BEGIN ")) {
    const looksLikePath = /^\s*[~.]?\/\S*\s*$/.test(value);
    return looksLikePath
      ? `must be the PEM text itself, not a file path; read the file (e.g. fs.readFileSync(path, "utf8")) and pass its content`
      : `must be PEM text starting with "-----BEGIN ${kind}-----"`;
  }
  if (value.split("-----BEGIN ").length - 1 !== pemBlocks(value).length) {
    return 'has a "-----BEGIN" line without its matching "-----END" line; the PEM looks truncated — copy it again completely';
  }
  return undefined;
}

/**
 * Parses the CERTIFICATE blocks of a PEM bundle, reporting blocks that do not parse and blocks of other types.
 * Returns the parsed certificates, or `undefined` when there was a problem.
 */
export function parseCertificates(value: unknown, field: "caCert" | "clientCert", path: string, out: Problem[]): X509Certificate[] | undefined {
  const textIssue = pemTextProblem(value, "CERTIFICATE");
  if (textIssue) {
    out.push({ path, message: textIssue });
    return undefined;
  }
  const certs: X509Certificate[] = [];
  let ok = true;
  pemBlocks(value as string).forEach((block, i) => {
    const which = `PEM block #${i + 1}`;
    if (block.label.endsWith("PRIVATE KEY")) {
      const where = field === "clientCert" ? "move it to clientKey" : "remove it — caCert must hold only certificates";
      out.push({ path, message: `${which} is a private key; ${where}` });
      ok = false;
    } else if (block.label !== "CERTIFICATE") {
      out.push({ path, message: `${which} is a "${block.label}"; only CERTIFICATE blocks are allowed, remove it` });
      ok = false;
    } else {
      try {
        certs.push(new X509Certificate(block.text));
      } catch (e) {
        out.push({ path, message: `${which} does not parse as an X.509 certificate (${(e as Error).message}); export it again` });
        ok = false;
      }
    }
  });
  return ok ? certs : undefined;
}

/** Why clientKey text cannot be used, before parsing it. */
export function keyTextProblem(value: unknown): string | undefined {
  const textIssue = pemTextProblem(value, "PRIVATE KEY");
  if (textIssue) return textIssue;
  const blocks = pemBlocks(value as string);
  if (blocks.some((b) => b.label === "CERTIFICATE")) return "contains a certificate; put it in clientCert and keep only the private key here";
  const keys = blocks.filter((b) => b.label.endsWith("PRIVATE KEY"));
  if (keys.length === 0) {
    const publicKey = blocks.some((b) => b.label.endsWith("PUBLIC KEY"));
    return publicKey ? "is a public key; clientKey must be the private key of clientCert" : 'must contain a "-----BEGIN PRIVATE KEY-----" block';
  }
  if (keys.length > 1) return `holds ${keys.length} private keys; keep only the key of clientCert`;
  if (keys[0].label.includes("ENCRYPTED") || /Proc-Type:\s*4,ENCRYPTED/.test(keys[0].text)) {
    return "is encrypted, and the runtimes cannot use a passphrase; decrypt it with `openssl pkey -in key.pem -out plain.pem` and pass that";
  }
  return undefined;
}

/** Parses clientKey, reporting problems. Returns the key or `undefined`. */
export function parsePrivateKey(value: unknown, path: string, out: Problem[]): KeyObject | undefined {
  const issue = keyTextProblem(value);
  if (issue) {
    out.push({ path, message: issue });
    return undefined;
  }
  const block = pemBlocks(value as string).find((b) => b.label.endsWith("PRIVATE KEY"));
  try {
    return createPrivateKey(block?.text ?? "");
  } catch (e) {
    out.push({ path, message: `does not parse as a private key (${(e as Error).message}); export it again as PEM` });
    return undefined;
  }
}

/** Whether a certificate's public key matches a private key (false when the key types differ). */
export function keyMatches(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}

/** Checks that clientKey belongs to the first certificate of clientCert. */
export function checkKeyPair(certs: X509Certificate[], key: KeyObject, path: string, out: Problem[]): void {
  if (certs.length === 0 || keyMatches(certs[0], key)) return;
  const other = certs.findIndex((c) => keyMatches(c, key));
  const message =
    other > 0
      ? `belongs to certificate #${other + 1} of clientCert, not the first; put the client's own certificate first, then its issuers`
      : "does not belong to clientCert (its first certificate); use the key the certificate was issued for";
  out.push({ path, message });
}

/** Checks caCert, clientCert and clientKey of an endpoint, and that the client pair is complete and matches. */
export function checkTls(ep: Record<string, unknown>, path: string, out: Problem[]): void {
  const ca = optionalField(ep, "caCert", path, out);
  if (ca !== undefined) parseCertificates(ca, "caCert", `${path}.caCert`, out);
  const cert = optionalField(ep, "clientCert", path, out);
  const key = optionalField(ep, "clientKey", path, out);
  const certs = cert === undefined ? undefined : parseCertificates(cert, "clientCert", `${path}.clientCert`, out);
  const keyObject = key === undefined ? undefined : parsePrivateKey(key, `${path}.clientKey`, out);
  if (cert !== undefined && key === undefined) {
    out.push({
      path: `${path}.clientKey`,
      message: "is missing while clientCert is set; add the client certificate's private key, or remove clientCert",
    });
  }
  if (key !== undefined && cert === undefined) {
    out.push({ path: `${path}.clientCert`, message: "is missing while clientKey is set; add the client certificate, or remove clientKey" });
  }
  if (certs && keyObject) checkKeyPair(certs, keyObject, `${path}.clientKey`, out);
}
