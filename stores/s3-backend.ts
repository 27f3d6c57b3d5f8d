// The S3 object store under s3:// binary caches, through @aws-sdk/client-s3
// (loaded only when an s3:// URL is opened). `endpoint=` selects an S3-compatible server (path-style
// addressing), `region=` the region (default us-east-1), `profile=` an AWS
// profile. NARs above 16 MiB are uploaded in 16 MiB parts.
import { open, rm, stat, readFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  S3Client,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  ListObjectsV2Command,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand,
} from "@aws-sdk/client-s3";
import type { CacheBackend, Staging } from "./binary-cache";
import { mapLimit } from "./stream-util";
import { trustExtraCaCerts } from "./extra-ca";
import { DEFAULT_HTTP_LIMITS, connectTimeoutMessage, stalledMessage, type HttpLimits } from "./http";

export const MULTIPART_THRESHOLD = 16 * 1024 * 1024;
const PART_SIZE = 16 * 1024 * 1024;

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (err?.name === "NoSuchBucket") return false;
  return err?.name === "NoSuchKey" || err?.name === "NotFound" || err?.$metadata?.httpStatusCode === 404;
}

export class S3Backend implements CacheBackend {
  readonly readOnly = null;
  private client: S3Client;

  private readonly limits: HttpLimits;

  constructor(private bucket: string, private prefix: string, cfg: { endpoint?: string; region: string; profile?: string; limits?: HttpLimits }) {
    trustExtraCaCerts();
    const limits = (this.limits = cfg.limits ?? DEFAULT_HTTP_LIMITS);
    this.client = new S3Client({
      // Nix's download limits: connect-timeout, stalled-download-timeout (no data for that long, also while a
      // body is read), download-attempts (the SDK retries timeouts and 5xx)
      requestHandler: {
        connectionTimeout: limits.connectTimeout > 0 ? limits.connectTimeout * 1000 : undefined,
        socketTimeout: limits.stalledDownloadTimeout > 0 ? limits.stalledDownloadTimeout * 1000 : undefined,
      },
      maxAttempts: Math.max(1, limits.downloadAttempts),
      region: cfg.region,
      endpoint: cfg.endpoint,
      forcePathStyle: cfg.endpoint !== undefined,
      ...(cfg.profile ? { profile: cfg.profile } : {}),
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  private key(k: string): string {
    return this.prefix ? `${this.prefix}/${k}` : k;
  }

  private where(k: string): string {
    return `s3://${this.bucket}/${this.key(k)}`;
  }

  private async send<T>(what: string, key: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (isNotFound(e)) throw e;
      throw new Error(`S3 ${what} ${this.where(key)}: ${this.describe(e)}`);
    }
  }

  /** An SDK error as a message; its timeouts in the words of the settings. */
  private describe(e: unknown): string {
    const err = e as Error;
    if (err?.name === "TimeoutError")
      return /establish a connection/.test(err.message) ? connectTimeoutMessage(this.limits.connectTimeout) : stalledMessage(this.limits.stalledDownloadTimeout);
    return `${err.name && err.name !== "Error" ? err.name + ": " : ""}${err.message}`;
  }

  async get(key: string): Promise<AsyncIterable<Uint8Array> | null> {
    try {
      const out = await this.send("GET", key, () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) })));
      const body = out.Body as AsyncIterable<Uint8Array>;
      const where = this.where(key);
      // a body that stalls fails with the object's name in its message
      return (async function* (self: S3Backend) {
        try {
          yield* body;
        } catch (e) {
          throw new Error(`S3 GET ${where}: ${self.describe(e)}`);
        }
      })(this);
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.send("HEAD", key, () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(key) })));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async putText(key: string, text: string, contentType: string): Promise<void> {
    await this.send("PUT", key, () =>
      this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(key), Body: Buffer.from(text), ContentType: contentType })),
    );
  }

  async stage(): Promise<Staging> {
    const path = join(tmpdir(), `tvix-s3-upload-${process.pid}-${randomBytes(6).toString("hex")}`);
    return {
      path,
      commit: async (key, contentType) => {
        try {
          await this.upload(path, key, contentType);
        } finally {
          await rm(path, { force: true });
        }
      },
      discard: () => rm(path, { force: true }),
    };
  }

  /** Uploads a local file: one PUT up to 16 MiB, a multipart upload above. */
  async upload(path: string, key: string, contentType: string): Promise<void> {
    const size = (await stat(path)).size;
    if (size <= MULTIPART_THRESHOLD) {
      const body = await readFile(path);
      await this.send("PUT", key, () =>
        this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(key), Body: body, ContentType: contentType })),
      );
      return;
    }
    const Key = this.key(key);
    const created = await this.send("CreateMultipartUpload", key, () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key, ContentType: contentType })),
    );
    const UploadId = created.UploadId!;
    const fh = await open(path, "r");
    try {
      const count = Math.ceil(size / PART_SIZE);
      const parts: { PartNumber: number; ETag: string }[] = [];
      await mapLimit(
        Array.from({ length: count }, (_, i) => i),
        4,
        async (i) => {
          const len = Math.min(PART_SIZE, size - i * PART_SIZE);
          const buf = Buffer.alloc(len);
          const { bytesRead } = await fh.read(buf, 0, len, i * PART_SIZE);
          if (bytesRead !== len) throw new Error(`short read of staged upload ${path}`);
          const r = await this.send(`UploadPart ${i + 1}/${count}`, key, () =>
            this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key, UploadId, PartNumber: i + 1, Body: buf })),
          );
          parts.push({ PartNumber: i + 1, ETag: r.ETag! });
        },
      );
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      await this.send("CompleteMultipartUpload", key, () =>
        this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId, MultipartUpload: { Parts: parts } })),
      );
    } catch (e) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId })).catch(() => {});
      throw e;
    } finally {
      await fh.close();
    }
  }

  async *listTop(): AsyncIterable<string> {
    const Prefix = this.prefix ? `${this.prefix}/` : "";
    let ContinuationToken: string | undefined;
    do {
      const out = await this.send("LIST", "", () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix, Delimiter: "/", ContinuationToken })),
      );
      for (const o of out.Contents ?? []) if (o.Key) yield o.Key.slice(Prefix.length);
      ContinuationToken = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

