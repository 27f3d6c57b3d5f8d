// NODE_EXTRA_CA_CERTS, honoured when the first TLS connection is made.
//
// Node 20 reads and parses its whole root certificate store at start-up
// when NODE_EXTRA_CA_CERTS is set (~60-90 ms here, where it is set for
// every process), so the binary's copy of node looks for another variable
// name at start-up (build.mjs); what the variable asks for is done here
// instead, by the code that connects (downloads, HTTP and S3 caches): the
// certificates of the file are trusted on top of Node's bundled roots, as
// Node does, for every TLS connection that does not bring its own.
import { readFileSync } from "node:fs";
import { lazyModule } from "../core/lazy-module";

let done = false;

export function trustExtraCaCerts(): void {
  if (done) return;
  done = true;
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return;
  let extra: string;
  try {
    extra = readFileSync(file, "utf8");
  } catch (e) {
    process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}`);
    return;
  }
  const tls = lazyModule<typeof import("node:tls")>("node:tls");
  const ca = [...tls.rootCertificates, extra];
  const connect = tls.connect;
  // undici (fetch) and https call tls.connect through the module object
  (tls as { connect: typeof connect }).connect = function (this: unknown, ...args: unknown[]) {
    const opts = args.find((a): a is Record<string, unknown> => typeof a === "object" && a !== null);
    if (opts && opts.ca === undefined && opts.secureContext === undefined) opts.ca = ca;
    return (connect as (...a: unknown[]) => ReturnType<typeof connect>).apply(this, args);
  } as typeof connect;
}
