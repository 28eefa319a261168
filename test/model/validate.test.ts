import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  canonicalUpstream,
  endpointUrlProblems,
  findProblems,
  normalizeEndpointUrl,
  upstreamProblem,
  validateMirrors,
} from "../../src/model/validate";
import { RegistryMirrorsError, type Mirror } from "../../src/model/types";

const fixture = (name: string): string => readFileSync(join(__dirname, "fixtures", name), "utf8");
const CA = fixture("ca.pem");
const SERVER = fixture("server.pem");
const CLIENT_CERT = fixture("client.pem");
const CLIENT_KEY = fixture("client.key");
const ENCRYPTED_KEY = fixture("client-encrypted.key");
const OTHER_KEY = fixture("other.key");

/** A valid mirror with one https endpoint; `ep` is merged into the endpoint, `m` into the mirror. */
function mirror(ep: Record<string, unknown> = {}, m: Record<string, unknown> = {}): Record<string, unknown> {
  return { upstream: "registry.example.com", endpoints: [{ url: "https://mirror.internal:5000", ...ep }], ...m };
}

/** The only problem of `input`; fails when there is not exactly one. */
function onlyProblem(input: unknown): { path: string; message: string } {
  const problems = findProblems(input);
  expect(problems).toHaveLength(1);
  return problems[0];
}

const E = "mirrors[0].endpoints[0]";

describe("validateMirrors: one bad input per rule", () => {
  // [rule, input (the whole mirror list), expected path, what the message must mention (the fix)]
  const cases: Array<[string, unknown, string, RegExp]> = [
    // top level and shapes
    ["list is not an array", { upstream: "docker.io" }, "mirrors", /must be a list of mirrors/],
    ["mirror is not an object", ["docker.io"], "mirrors[0]", /must be an object such as \{ upstream/],
    ["unknown mirror field, typo", [mirror({}, { endpoint: [] })], "mirrors[0].endpoint", /did you mean "endpoints"/],
    ["unknown mirror field, no suggestion", [mirror({}, { colour: "red" })], "mirrors[0].colour", /remove it \(known fields: upstream, endpoints/],
    ["unknown endpoint field, alias", [mirror({ insecure: true })], `${E}.insecure`, /did you mean "skipVerify"/],
    ["unknown endpoint field, typo", [mirror({ capabilites: ["pull"] })], `${E}.capabilites`, /did you mean "capabilities"/],
    ["unknown endpoint field, other tool's name", [mirror({ ca_file: CA })], `${E}.ca_file`, /did you mean "caCert"/],
    ["optional field is null", [mirror({ skipVerify: null })], `${E}.skipVerify`, /omit the field/],
    ["Pulumi Output", [mirror({}, { upstream: { __pulumiOutput: true } })], "mirrors[0].upstream", /resolve it with \.apply\(\)/],
    // One plain-object test for the spec and parsed TOML: a Date or Map has no fields to read.
    ["mirror is a Date", [new Date(0)], "mirrors[0]", /must be an object such as \{ upstream.*, got a Date$/],
    [
      "endpoint is a Map",
      [mirror({}, { endpoints: [new Map([["url", "https://m.internal"]])] })],
      `${E}`,
      /must be an object such as \{ url.*, got a Map$/,
    ],
    ["auth is a Date", [mirror({ auth: new Date(0) })], `${E}.auth`, /got a Date/],

    // upstream
    ["upstream missing", [{ endpoints: [{ url: "https://m.internal" }] }], "mirrors[0].upstream", /is missing; set a registry host/],
    ["upstream is a number", [mirror({}, { upstream: 5000 })], "mirrors[0].upstream", /must be a string such as "docker.io", got a number/],
    ["upstream empty", [mirror({}, { upstream: "" })], "mirrors[0].upstream", /must not be empty; write a registry host/],
    [
      "upstream with scheme",
      [mirror({}, { upstream: "https://docker.io" })],
      "mirrors[0].upstream",
      /without a scheme; remove "https:\/\/"; write "docker.io"/,
    ],
    [
      "upstream with path",
      [mirror({}, { upstream: "docker.io/library" })],
      "mirrors[0].upstream",
      /without a path; remove "\/library".*endpoint url/,
    ],
    ["upstream with user info", [mirror({}, { upstream: "me@gcr.io" })], "mirrors[0].upstream", /without a user info; remove "…@".*auth/],
    ["upstream with query", [mirror({}, { upstream: "gcr.io?x=1" })], "mirrors[0].upstream", /without a query; remove "\?x=1"/],
    ["upstream with fragment", [mirror({}, { upstream: "gcr.io#x" })], "mirrors[0].upstream", /without a fragment; remove "#x"/],
    ["upstream with whitespace", [mirror({}, { upstream: "gcr .io" })], "mirrors[0].upstream", /whitespace; remove it/],
    ["upstream with newline", [mirror({}, { upstream: "gcr.io\n" })], "mirrors[0].upstream", /control character "\\n" \(newline\); remove it/],
    ["upstream with NUL", [mirror({}, { upstream: "gcr\0.io" })], "mirrors[0].upstream", /U\+0000 \(NUL\); remove it/],
    ["upstream uppercase", [mirror({}, { upstream: "GCR.io:5000" })], "mirrors[0].upstream", /must be lowercase; write "gcr.io:5000"/],
    ["upstream label too long", [mirror({}, { upstream: `${"a".repeat(64)}.io` })], "mirrors[0].upstream", /at most 63/],
    ["upstream too long", [mirror({}, { upstream: `${"abcdefghi.".repeat(26)}io` })], "mirrors[0].upstream", /maximum is 253/],
    [
      "upstream bad character",
      [mirror({}, { upstream: "my_registry.io" })],
      "mirrors[0].upstream",
      /"_", which is not allowed.*use lowercase letters, digits/,
    ],
    ["upstream label with leading hyphen", [mirror({}, { upstream: "-reg.io" })], "mirrors[0].upstream", /must not start or end with "-"/],
    ["upstream empty label", [mirror({}, { upstream: "reg..io" })], "mirrors[0].upstream", /empty label.*remove the extra "."/],
    ["upstream trailing dot", [mirror({}, { upstream: "reg.io." })], "mirrors[0].upstream", /remove the trailing "."/],
    ["upstream port 0", [mirror({}, { upstream: "reg.io:0" })], "mirrors[0].upstream", /port "0" must be a number from 1 to 65535/],
    ["upstream port too big", [mirror({}, { upstream: "reg.io:65536" })], "mirrors[0].upstream", /from 1 to 65535/],
    ["upstream port not a number", [mirror({}, { upstream: "reg.io:http" })], "mirrors[0].upstream", /from 1 to 65535/],
    ["upstream empty port", [mirror({}, { upstream: "reg.io:" })], "mirrors[0].upstream", /remove the ":" or add a port/],
    ["upstream two colons", [mirror({}, { upstream: "reg.io:5000:1" })], "mirrors[0].upstream", /write host or host:port/],
    ["upstream bad IPv4", [mirror({}, { upstream: "300.1.1.1:5000" })], "mirrors[0].upstream", /not a valid IPv4 address; write four numbers/],
    ["upstream wildcard", [mirror({}, { upstream: "*.example.com" })], "mirrors[0].upstream", /use exactly "\*"/],
    ["upstream IPv6", [mirror({}, { upstream: "[fd00::1]:5000" })], "mirrors[0].upstream", /use a DNS name/],
    ["upstream single label", [mirror({}, { upstream: "registry" })], "mirrors[0].upstream", /write the full host name or add the port/],
    ["upstream _default", [mirror({}, { upstream: "_default" })], "mirrors[0].upstream", /write "\*"/],
    [
      "duplicate upstream (Docker Hub aliases)",
      [mirror({}, { upstream: "docker.io" }), mirror({}, { upstream: "registry-1.docker.io" })],
      "mirrors[1].upstream",
      /same registry as mirrors\[0\].*Docker Hub.*merge their endpoints/,
    ],
    [
      "duplicate upstream",
      [mirror({}, { upstream: "gcr.io" }), mirror({}, { upstream: "*" }), mirror({}, { upstream: "gcr.io" })],
      "mirrors[2].upstream",
      /same registry as mirrors\[0\]; merge/,
    ],

    // endpoints
    ["endpoints missing", [{ upstream: "gcr.io" }], "mirrors[0].endpoints", /is missing; list at least one mirror/],
    ["endpoints not a list", [{ upstream: "gcr.io", endpoints: "https://m" }], "mirrors[0].endpoints", /must be a list of endpoints.*got a string/],
    ["endpoints empty", [{ upstream: "gcr.io", endpoints: [] }], "mirrors[0].endpoints", /at least one endpoint; add one, or remove this mirror/],
    ["endpoint not an object", [{ upstream: "gcr.io", endpoints: ["https://m"] }], E, /must be an object such as \{ url/],

    // url
    ["url missing", [{ upstream: "gcr.io", endpoints: [{}] }], `${E}.url`, /is missing; set the mirror's URL/],
    ["url is a number", [mirror({ url: 5000 })], `${E}.url`, /must be a string, got a number \(5000\)/],
    ["url empty", [mirror({ url: "" })], `${E}.url`, /must not be empty/],
    [
      "url without scheme",
      [mirror({ url: "mirror.internal:5000" })],
      `${E}.url`,
      /must start with https:\/\/.*write "https:\/\/mirror.internal:5000"/,
    ],
    ["url with ftp scheme", [mirror({ url: "ftp://mirror.internal" })], `${E}.url`, /scheme "ftp:\/\/" is not supported; use https:\/\//],
    ["url with single slash", [mirror({ url: "https:/mirror.internal" })], `${E}.url`, /must start with https:\/\//],
    ["url without host", [mirror({ url: "https:///v2" })], `${E}.url`, /has no host; write it as https:\/\/host/],
    ["url not parseable", [mirror({ url: "https://mirror.internal:99999" })], `${E}.url`, /not a valid URL; write it as/],
    ["url with user info", [mirror({ url: "https://me:secret@mirror.internal" })], `${E}.url`, /user info.*set auth: \{ username, password \}/],
    ["url with query", [mirror({ url: "https://mirror.internal/v2?ns=docker.io" })], `${E}.url`, /must not have a query.*remove it/],
    ["url with empty query", [mirror({ url: "https://mirror.internal/?" })], `${E}.url`, /must not have a query/],
    ["url with fragment", [mirror({ url: "https://mirror.internal/#top" })], `${E}.url`, /must not have a fragment.*remove it/],
    ["url with whitespace", [mirror({ url: "https://mirror.internal/a b" })], `${E}.url`, /whitespace; remove it or percent-encode/],
    ["url with tab", [mirror({ url: "https://mirror.internal/\tb" })], `${E}.url`, /control character "\\t" \(tab\); remove it/],
    ["url with newline", [mirror({ url: "https://mirror.internal\n" })], `${E}.url`, /"\\n" \(newline\); remove it/],
    ["url with NUL", [mirror({ url: "https://mirror.internal/\0" })], `${E}.url`, /NUL.*remove it/],
    ["url with double quote", [mirror({ url: 'https://mirror.internal/a"b' })], `${E}.url`, /'"' \(%22\).*remove or percent-encode/],
    ["url with single quote", [mirror({ url: "https://mirror.internal/a'b" })], `${E}.url`, /"'" \(%27\).*break out/],
    ["url with backslash", [mirror({ url: "https://mirror.internal\\v2" })], `${E}.url`, /"\\" \(%5C\)/],
    ["url with backtick", [mirror({ url: "https://mirror.internal/`id`" })], `${E}.url`, /"`" \(%60\)/],
    ["url with dollar", [mirror({ url: "https://mirror.internal/$(id)" })], `${E}.url`, /"\$" \(%24\)/],
    [
      "url with .. segment",
      [mirror({ url: "https://mirror.internal/v2/../etc" })],
      `${E}.url`,
      /"\.\." path segments; write the path the mirror serves/,
    ],
    ["url with encoded .. segment", [mirror({ url: "https://mirror.internal/%2E%2e/x" })], `${E}.url`, /"\.\." path segments/],
    ["url with empty segment", [mirror({ url: "https://mirror.internal//v2" })], `${E}.url`, /remove the extra "\/"/],
    ["url with bad path character", [mirror({ url: "https://mirror.internal/{ns}" })], `${E}.url`, /path contains "\{".*percent-encode it/],
    ["url with non-canonical host", [mirror({ url: "https://münchen.de/v2" })], `${E}.url`, /write "xn--mnchen-3ya.de"/],
    ["url with numeric shorthand host", [mirror({ url: "http://0x7f.1:5000" })], `${E}.url`, /write "127.0.0.1"/],
    ["url with odd host character", [mirror({ url: "https://mirror{1}.internal" })], `${E}.url`, /host contains "\{"; use letters, digits/],
    ["url with port 0", [mirror({ url: "https://mirror.internal:0" })], `${E}.url`, /port 0 is not valid; use a port from 1 to 65535/],
    [
      "duplicate endpoint url (trailing slash)",
      [{ upstream: "gcr.io", endpoints: [{ url: "https://m.internal/ns" }, { url: "https://m.internal/ns/" }] }],
      "mirrors[0].endpoints[1].url",
      /same URL as mirrors\[0\]\.endpoints\[0\]\.url; remove one/,
    ],

    // capabilities
    ["capabilities not a list", [mirror({ capabilities: "pull" })], `${E}.capabilities`, /must be a list such as \["pull", "resolve"\]/],
    ["capabilities empty", [mirror({ capabilities: [] })], `${E}.capabilities`, /list at least "pull", or omit it/],
    [
      "capability unknown",
      [mirror({ capabilities: ["pull", "pul"] })],
      `${E}.capabilities[1]`,
      /did you mean "pull"\? use "pull", "resolve" or "push"/,
    ],
    ["capability not a string", [mirror({ capabilities: ["pull", 1] })], `${E}.capabilities[1]`, /a number \(1\) is not a capability; use "pull"/],
    [
      "capability duplicate",
      [mirror({ capabilities: ["pull", "resolve", "pull"] })],
      `${E}.capabilities[2]`,
      /listed twice \(also at index 0\); remove this one/,
    ],
    ["resolve without pull", [mirror({ capabilities: ["resolve"] })], `${E}.capabilities`, /"resolve" requires "pull".*add "pull"/],

    // caCert
    ["caCert not a string", [mirror({ caCert: 42 })], `${E}.caCert`, /must be PEM text \(CERTIFICATE\), got a number/],
    ["caCert is a file path", [mirror({ caCert: "/etc/ssl/ca.pem" })], `${E}.caCert`, /not a file path; read the file/],
    ["caCert is not PEM", [mirror({ caCert: "hello" })], `${E}.caCert`, /starting with "-----BEGIN CERTIFICATE-----"/],
    ["caCert truncated", [mirror({ caCert: CA.slice(0, 200) })], `${E}.caCert`, /truncated — copy it again/],
    ["caCert with NUL", [mirror({ caCert: `${CA}\0` })], `${E}.caCert`, /NUL.*convert it with openssl to PEM/],
    [
      "caCert bundle with a broken cert",
      [mirror({ caCert: CA + SERVER.replace(/MII/, "MIX") })],
      `${E}.caCert`,
      /block #2 does not parse.*export it again/,
    ],
    ["caCert with a private key", [mirror({ caCert: CA + CLIENT_KEY })], `${E}.caCert`, /block #2 is a private key; remove it/],
    [
      "caCert with another block type",
      [mirror({ caCert: `${CA}-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n` })],
      `${E}.caCert`,
      /"X509 CRL"; only CERTIFICATE blocks/,
    ],

    // client certificate and key
    [
      "clientCert without clientKey",
      [mirror({ clientCert: CLIENT_CERT })],
      `${E}.clientKey`,
      /is missing while clientCert is set; add the client certificate's private key/,
    ],
    [
      "clientKey without clientCert",
      [mirror({ clientKey: CLIENT_KEY })],
      `${E}.clientCert`,
      /is missing while clientKey is set; add the client certificate/,
    ],
    [
      "clientCert holding the key",
      [mirror({ clientCert: CLIENT_CERT + CLIENT_KEY, clientKey: CLIENT_KEY })],
      `${E}.clientCert`,
      /is a private key; move it to clientKey/,
    ],
    [
      "clientKey does not match",
      [mirror({ clientCert: CLIENT_CERT, clientKey: OTHER_KEY })],
      `${E}.clientKey`,
      /does not belong to clientCert.*use the key the certificate was issued for/,
    ],
    [
      "clientCert chain in the wrong order",
      [mirror({ clientCert: CA + CLIENT_CERT, clientKey: CLIENT_KEY })],
      `${E}.clientKey`,
      /certificate #2 of clientCert.*put the client's own certificate first/,
    ],
    ["clientKey encrypted", [mirror({ clientCert: CLIENT_CERT, clientKey: ENCRYPTED_KEY })], `${E}.clientKey`, /encrypted.*openssl pkey/],
    [
      "clientKey is a certificate",
      [mirror({ clientCert: CLIENT_CERT, clientKey: CLIENT_CERT })],
      `${E}.clientKey`,
      /put it in clientCert and keep only the private key/,
    ],
    [
      "clientKey is a public key",
      [mirror({ clientCert: CLIENT_CERT, clientKey: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" })],
      `${E}.clientKey`,
      /is a public key; clientKey must be the private key/,
    ],
    [
      "clientKey with two keys",
      [mirror({ clientCert: CLIENT_CERT, clientKey: CLIENT_KEY + OTHER_KEY })],
      `${E}.clientKey`,
      /holds 2 private keys; keep only/,
    ],
    [
      "clientKey does not parse",
      [mirror({ clientCert: CLIENT_CERT, clientKey: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" })],
      `${E}.clientKey`,
      /does not parse as a private key.*export it again/,
    ],

    // skipVerify and TLS on plain HTTP
    ["skipVerify not a boolean", [mirror({ skipVerify: "yes" })], `${E}.skipVerify`, /must be true or false, got a string/],
    ["skipVerify on http", [mirror({ url: "http://10.0.0.5:5000", skipVerify: true })], `${E}.skipVerify`, /no TLS to verify\); remove it/],
    ["caCert on http", [mirror({ url: "http://10.0.0.5:5000", caCert: CA })], `${E}.caCert`, /never used on an http:\/\/ endpoint.*remove caCert/],

    // auth
    ["auth not an object", [mirror({ auth: "user:pass" })], `${E}.auth`, /must be an object \{ username, password \}/],
    ["auth unknown field", [mirror({ auth: { user: "u", username: "u", password: "p" } })], `${E}.auth.user`, /did you mean "username"/],
    ["auth username missing", [mirror({ auth: { password: "p" } })], `${E}.auth.username`, /is missing; set the username/],
    ["auth username not a string", [mirror({ auth: { username: 7, password: "p" } })], `${E}.auth.username`, /must be a string, got a number/],
    [
      "auth username empty",
      [mirror({ auth: { username: "", password: "p" } })],
      `${E}.auth.username`,
      /must not be empty; set the username, or remove auth/,
    ],
    ["auth username with colon", [mirror({ auth: { username: "a:b", password: "p" } })], `${E}.auth.username`, /must not contain ":".*without ":"/],
    ["auth username with control char", [mirror({ auth: { username: "a\u0007", password: "p" } })], `${E}.auth.username`, /U\+0007; remove it/],
    ["auth password empty", [mirror({ auth: { username: "u", password: "" } })], `${E}.auth.password`, /must not be empty; set the password/],
    [
      "auth password with newline",
      [mirror({ auth: { username: "u", password: "s3cret\n" } })],
      `${E}.auth.password`,
      /newline.*check for a trailing newline/,
    ],

    // headers
    ["headers not an object", [mirror({ headers: ["X-A: b"] })], `${E}.headers`, /must be an object of header name to value/],
    ["header name invalid", [mirror({ headers: { "X A": "b" } })], `${E}.headers["X A"]`, /not a valid header name; use letters, digits and "-"/],
    ["header name with shell character", [mirror({ headers: { "X-$A": "b" } })], `${E}.headers["X-$A"]`, /not a valid header name/],
    ["header value not a string", [mirror({ headers: { "X-A": 1 } })], `${E}.headers["X-A"]`, /value must be a string, got a number/],
    ["header value with CRLF", [mirror({ headers: { "X-A": "b\r\nX-Evil: 1" } })], `${E}.headers["X-A"]`, /carriage return.*remove it/],
    ["header value with NUL", [mirror({ headers: { "X-A": "b\0" } })], `${E}.headers["X-A"]`, /NUL.*remove it/],
    [
      "header duplicate ignoring case",
      [mirror({ headers: { "X-A": "1", "x-a": "2" } })],
      `${E}.headers["x-a"]`,
      /duplicates header "X-A".*keep only one/,
    ],
    [
      "Authorization header with auth",
      [mirror({ auth: { username: "u", password: "p" }, headers: { Authorization: "Bearer x" } })],
      `${E}.headers.Authorization`,
      /conflicts with auth.*use either auth or this header/,
    ],

    // fallback and digestOnly
    ["fallback not a boolean", [mirror({}, { fallback: "no" })], "mirrors[0].fallback", /must be true or false, got a string/],
    ["digestOnly not a boolean", [mirror({}, { digestOnly: 1 })], "mirrors[0].digestOnly", /must be true or false, got a number \(1\)/],
    [
      "digestOnly with fallback: false",
      [mirror({}, { fallback: false, digestOnly: true })],
      "mirrors[0].digestOnly",
      /remove digestOnly to pull tags from the mirrors too, or remove fallback: false/,
    ],
  ];

  test.each(cases)("%s", (_rule, input, path, fix) => {
    const problem = onlyProblem(input);
    expect(problem.path).toBe(path);
    expect(problem.message).toMatch(fix);
    expect(() => validateMirrors(input)).toThrow(RegistryMirrorsError);
  });
});

describe("validateMirrors: reporting", () => {
  test("reports every problem at once, in document order, with its path", () => {
    const input = [
      { upstream: "https://docker.io", endpoints: [{ url: "mirror.local", capabilities: ["resolve"] }], endpoint: [] },
      { upstream: "gcr.io", endpoints: [] },
      { upstream: "quay.io", endpoints: [{ url: "http://10.0.0.5", skipVerify: true, auth: { username: "a:b", password: "" } }] },
      { upstream: "ghcr.io", endpoints: [{ url: "https://m.internal" }], fallback: false, digestOnly: true },
    ];
    let error: unknown;
    try {
      validateMirrors(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RegistryMirrorsError);
    const problems = (error as RegistryMirrorsError).problems;
    expect(problems.map((p) => p.path)).toEqual([
      "mirrors[0].endpoint",
      "mirrors[0].upstream",
      "mirrors[0].endpoints[0].url",
      "mirrors[0].endpoints[0].capabilities",
      "mirrors[1].endpoints",
      "mirrors[2].endpoints[0].auth.username",
      "mirrors[2].endpoints[0].auth.password",
      "mirrors[2].endpoints[0].skipVerify",
      "mirrors[3].digestOnly",
    ]);
    // The error message lists them all, each with its path.
    for (const p of problems) expect((error as Error).message).toContain(`${p.path}: ${p.message}`);
  });

  test("uses the given path prefix", () => {
    expect(findProblems([{ upstream: "gcr.io", endpoints: [] }], "spec.registries").map((p) => p.path)).toEqual(["spec.registries[0].endpoints"]);
  });

  test("sparse arrays are checked at every index", () => {
    const input: unknown[] = [];
    input[1] = mirror();
    expect(findProblems(input).map((p) => p.path)).toEqual(["mirrors[0]"]);
  });

  test("never repeats secrets in messages", () => {
    const input = [
      mirror({ url: "https://me:hunter2@mirror.internal", auth: { username: "u", password: "hunter2\n" }, headers: { "X-Token": "hunter2\r\n" } }),
      mirror({ url: "https://m.internal", clientCert: CLIENT_CERT, clientKey: OTHER_KEY }, { upstream: "gcr.io" }),
    ];
    const problems = findProblems(input);
    expect(problems.length).toBeGreaterThanOrEqual(4);
    const text = problems.map((p) => p.message).join("\n");
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain(OTHER_KEY.split("\n")[1]);
  });
});

describe("validateMirrors: good inputs", () => {
  const auth = { username: "testuser", password: "testpassword" };
  const seeds: Mirror[] = [
    { upstream: "somehost.io", endpoints: [{ url: "https://172.18.0.20:5000", caCert: CA, auth }] },
    { upstream: "otherhost.io", endpoints: [{ url: "https://172.18.0.20:5000", caCert: CA, auth }] },
    { upstream: "gcr.io", endpoints: [{ url: "https://172.18.0.20:5000", caCert: CA, auth }] },
    { upstream: "quay.io", endpoints: [{ url: "https://172.18.0.20:5000/v2/test-namespace", caCert: CA }] },
    { upstream: "icr.io", endpoints: [{ url: "https://icr.io/dpod", capabilities: ["pull", "resolve"] }] },
    { upstream: "docker.io", endpoints: [{ url: "https://mirror.gcr.io", capabilities: ["pull"] }] },
    { upstream: "*", endpoints: [{ url: "http://10.0.0.5:5000" }], fallback: false },
    { upstream: "registry.local:5000", endpoints: [{ url: "http://registry.local:5000" }] },
  ];

  test("the seed scenarios pass", () => {
    expect(findProblems(seeds)).toEqual([]);
    expect(() => validateMirrors(seeds)).not.toThrow();
  });

  const good: Array<[string, Record<string, unknown>]> = [
    ["CA bundle of several certificates", mirror({ caCert: CA + SERVER })],
    ["CA bundle with comments between blocks (CRLF)", mirror({ caCert: `# test CA\r\n${CA.replace(/\n/g, "\r\n")}# server\n${SERVER}` })],
    ["client certificate and key", mirror({ caCert: CA, clientCert: CLIENT_CERT, clientKey: CLIENT_KEY })],
    ["client certificate chain", mirror({ clientCert: CLIENT_CERT + CA, clientKey: CLIENT_KEY })],
    ["skipVerify together with caCert", mirror({ caCert: CA, skipVerify: true })],
    ["auth over plain http", mirror({ url: "http://10.0.0.5:5000", auth: { username: "u", password: "p" }, skipVerify: false })],
    ["headers", mirror({ headers: { "X-Registry-Token": "abc=def; q", Accept: "" } })],
    ["all capabilities", mirror({ capabilities: ["push", "pull", "resolve"] })],
    ["fallback false with digestOnly false", mirror({}, { fallback: false, digestOnly: false })],
    ["digestOnly with fallback", mirror({}, { digestOnly: true })],
    ["IPv6 endpoint", mirror({ url: "https://[fd00::1]:5000/v2" })],
    ["endpoint host with uppercase letters", mirror({ url: "HTTPS://Mirror.Internal:5000" })],
    ["endpoint host with underscore", mirror({ url: "http://my_registry:5000" })],
    ["percent-encoded path", mirror({ url: "https://mirror.internal/a%20b/c" })],
    ["upstream IPv4 with port", mirror({}, { upstream: "10.0.0.5:5000" })],
    ["upstream localhost", mirror({}, { upstream: "localhost" })],
    ["undefined optional fields", mirror({ caCert: undefined, auth: undefined }, { fallback: undefined })],
    [
      "several endpoints",
      { upstream: "docker.io", endpoints: [{ url: "https://a.internal" }, { url: "https://b.internal" }, { url: "https://a.internal/ns" }] },
    ],
  ];

  test.each(good)("%s", (_name, m) => {
    expect(findProblems([m])).toEqual([]);
  });

  test("an empty list is valid (no mirrors)", () => {
    expect(findProblems([])).toEqual([]);
  });
});

describe("upstream helpers", () => {
  test.each(["*", "docker.io", "registry.local:5000", "10.0.0.5", "10.0.0.5:5000", "a-b.c-d.io:65535", "localhost:5000", "xn--mnchen-3ya.de"])(
    "%s is a valid upstream",
    (s) => {
      expect(upstreamProblem(s)).toBeUndefined();
    },
  );

  test.each(["", "**", "https://docker.io", "Docker.io", "docker.io/", "docker.io:0", "1.2.3", "a_b.io", "reg", " reg.io", "reg.io\n"])(
    "%j is not a valid upstream",
    (s) => {
      expect(upstreamProblem(s)).toEqual(expect.any(String));
    },
  );

  test("canonicalUpstream folds Docker Hub aliases", () => {
    expect(canonicalUpstream("index.docker.io")).toBe("docker.io");
    expect(canonicalUpstream("registry-1.docker.io")).toBe("docker.io");
    expect(canonicalUpstream("gcr.io")).toBe("gcr.io");
  });
});

describe("endpoint URL helpers", () => {
  test("endpointUrlProblems returns every independent problem", () => {
    expect(endpointUrlProblems("https://u@m.internal/a/../b?x#y")).toHaveLength(4);
    expect(endpointUrlProblems("https://m.internal/v2/ns")).toEqual([]);
  });

  test("normalizeEndpointUrl drops case, default port and a trailing slash", () => {
    expect(normalizeEndpointUrl("HTTPS://Mirror.Internal:443/")).toBe("https://mirror.internal");
    expect(normalizeEndpointUrl("https://m.internal:5000/v2/ns/")).toBe("https://m.internal:5000/v2/ns");
  });
});
