/**
 * Errors at the Pulumi boundary. Argument problems become an `InputPropertiesError` (a property path and a reason
 * each, as the engine formats them for components served by a provider), keeping the collected problems and the
 * listing of {@link RegistryMirrorsError} for programs; a failure on one node is a `ResourceError`.
 */
import * as pulumi from "@pulumi/pulumi";
import { RegistryMirrorsError, type Problem } from "../model/types";

/** Invalid arguments of a RegistryMirrors component: every problem, each with its field path. */
export class RegistryMirrorsArgumentsError extends pulumi.InputPropertiesError {
  /** Every problem found, each with its field path (`nodes[0].connection.hostKey`, `mirrors[1].endpoints[0].url`). */
  readonly problems: Problem[];

  constructor(problems: Problem[], summary = "invalid RegistryMirrors arguments") {
    super({
      message: new RegistryMirrorsError(problems, summary).message,
      errors: problems.map((p) => ({ propertyPath: p.path, reason: p.message })),
    });
    this.name = "RegistryMirrorsArgumentsError";
    this.problems = problems;
  }
}

/** The same problems as an argument error of the component; anything else unchanged. */
export function asArgumentsError(e: unknown, summary?: string): unknown {
  return e instanceof RegistryMirrorsError ? new RegistryMirrorsArgumentsError(e.problems, summary) : e;
}

/**
 * A failure on one node (or of the component's inputs) as the engine shows it: `what: why`, attributed to the
 * resource, without a stack trace, printed once. Such errors surface while Pulumi serialises every input that depends
 * on them; the SDK prefixes the message with the property each time ("error serializing property …"), which would
 * bury the node and the step, so the message of this error keeps its text.
 */
export function failure(what: string, cause: unknown, resource: pulumi.Resource): pulumi.ResourceError {
  const why = cause instanceof Error ? cause.message : String(cause);
  const text = `${what}: ${why}`;
  const error = new pulumi.ResourceError(text, resource, true);
  Object.defineProperty(error, "message", { get: () => text, set: () => undefined, enumerable: false, configurable: true });
  return error;
}
