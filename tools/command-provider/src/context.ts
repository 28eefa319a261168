// What pulumi-go-provider hands the real provider as `context.Context` + `p.GetLogger(ctx)`:
// a deadline from customTimeouts, cancellation from the engine's Cancel RPC, and a logger
// that sends engine log messages attached to the resource's URN.

export type Severity = "debug" | "info" | "warning" | "error";

export interface Logger {
  log(severity: Severity, message: string, ephemeral: boolean): Promise<void>;
}

export class Ctx {
  private cancelWaiters = new Set<() => void>();
  private canceledFlag = false;

  constructor(
    readonly urn: string,
    private readonly logger: Logger,
    /** ms since epoch; undefined = no deadline (customTimeouts unset) */
    readonly deadline?: number,
  ) {}

  /** Go's ctx.Err(): undefined while the context is live. */
  err(): string | undefined {
    if (this.canceledFlag) return "context canceled";
    if (this.deadline !== undefined && Date.now() >= this.deadline) return "context deadline exceeded";
    return undefined;
  }

  cancel(): void {
    this.canceledFlag = true;
    for (const w of this.cancelWaiters) w();
    this.cancelWaiters.clear();
  }

  /** Sleep for ms, waking early when the context is done. Returns ctx.Err() or undefined. */
  async sleep(ms: number): Promise<string | undefined> {
    if (this.err()) return this.err();
    let until = ms;
    if (this.deadline !== undefined) until = Math.min(ms, Math.max(0, this.deadline - Date.now()));
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.cancelWaiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, until);
      this.cancelWaiters.add(done);
    });
    return this.err();
  }

  // p.GetLogger(ctx).Info/Warning/Error (persistent) and InfoStatus (ephemeral status line)
  info(msg: string): Promise<void> { return this.logger.log("info", msg, false); }
  warning(msg: string): Promise<void> { return this.logger.log("warning", msg, false); }
  error(msg: string): Promise<void> { return this.logger.log("error", msg, false); }
  debug(msg: string): Promise<void> { return this.logger.log("debug", msg, false); }
  infoStatus(msg: string): Promise<void> { return this.logger.log("info", msg, true); }
}

/** Split a byte stream into lines like bufio.Scanner (ScanLines: drops \n and a trailing \r). */
export class LineSplitter {
  private buf = "";
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: string): void {
    this.buf += chunk;
    let i: number;
    while ((i = this.buf.indexOf("\n")) >= 0) {
      this.onLine(this.buf.slice(0, i).replace(/\r$/, ""));
      this.buf = this.buf.slice(i + 1);
    }
  }
  end(): void {
    if (this.buf.length > 0) this.onLine(this.buf.replace(/\r$/, ""));
    this.buf = "";
  }
}
