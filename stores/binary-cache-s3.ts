// s3://bucket/prefix binary caches: Nix's layout under the prefix, in an S3
// bucket (stores/s3-backend.ts). Parameters as Nix: endpoint=, region=,
// profile=, scheme=, plus the binary cache ones (compression, secret-key...).
import { registerStoreScheme } from "./url";
import { BinaryCacheStore, binaryCacheOptions, storeParams, stripParams } from "./binary-cache";
import { httpLimits } from "./http";

registerStoreScheme("s3", async (url, raw, opts) => {
  const p = storeParams(raw);
  const bucket = url.host;
  if (!bucket) throw new Error(`s3:// store URL '${raw}' lacks a bucket name`);
  const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, "");
  let endpoint = p.get("endpoint") || undefined;
  if (endpoint && !endpoint.includes("://")) endpoint = `${p.get("scheme") || "https"}://${endpoint}`;
  const { S3Backend } = await import("./s3-backend");
  const backend = new S3Backend(bucket, prefix, { endpoint, region: p.get("region") || "us-east-1", profile: p.get("profile") || undefined, limits: await httpLimits() });
  const store = new BinaryCacheStore(stripParams(raw), backend, await binaryCacheOptions(raw, opts.storeDir));
  try {
    return await store.init();
  } catch (e) {
    await backend.close();
    throw e;
  }
});
