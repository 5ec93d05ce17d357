/**
 * Uploading a file from a browser, which cannot stream to the server: the resumable upload
 * (BeginUpload, AppendUpload part by part, FinishUpload), with progress, parts sent again
 * after a lost answer, and waits when the server has too many uploads in flight.
 */
import { Code, ConnectError } from "@connectrpc/connect";

import type { CoderAIClient } from "./client.js";
import { retryDelayMs } from "./errors.js";
import type { UploadResult } from "./gen/coderai/v1/document_pb.js";

export interface UploadOptions {
  /** Bytes sent so far and the file's size, after each part. */
  onProgress?: (sent: number, total: number) => void;
  /** Largest part to send (the server's limit applies too). Default 4 MiB. */
  partBytes?: number;
  /** Times a busy server (RESOURCE_EXHAUSTED) or a lost answer is tried again. Default 10. */
  retries?: number;
  signal?: AbortSignal;
}

const DEFAULT_PART_BYTES = 4 * 1024 * 1024;

/** Uploads one file into the project; its results (one per file of a .zip). */
export async function uploadFile(
  client: CoderAIClient,
  projectId: string,
  file: Blob & { name: string },
  options: UploadOptions = {},
): Promise<UploadResult[]> {
  const retries = options.retries ?? 10;
  const again = <T>(call: () => Promise<T>) => retrying(call, retries, options.signal);
  const begun = await again(() =>
    client.documents.beginUpload({
      metadata: { projectId, filename: file.name, mimeType: file.type },
      sizeBytes: BigInt(file.size),
    }),
  );
  const partBytes = Math.min(options.partBytes ?? DEFAULT_PART_BYTES, begun.maxPartBytes || Infinity);
  try {
    let offset = 0;
    options.onProgress?.(0, file.size);
    while (offset < file.size) {
      const data = new Uint8Array(await file.slice(offset, offset + partBytes).arrayBuffer());
      const sentFrom = offset;
      // A part sent again from the same offset is acknowledged, not stored twice.
      const answer = await again(() =>
        client.documents.appendUpload({ uploadId: begun.uploadId, offset: BigInt(sentFrom), data }),
      );
      offset = Number(answer.receivedBytes);
      options.onProgress?.(offset, file.size);
    }
    const finished = await again(() => client.documents.finishUpload({ uploadId: begun.uploadId }));
    return finished.results;
  } catch (error) {
    // Nothing half-uploaded is left behind (the server would expire it a day later).
    await client.documents.abortUpload({ uploadId: begun.uploadId }).catch(() => undefined);
    throw error;
  }
}

async function retrying<T>(call: () => Promise<T>, retries: number, signal?: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      const code = ConnectError.from(error).code;
      const busy = code === Code.ResourceExhausted && retryDelayMs(error) !== undefined;
      const lost = code === Code.Unavailable || code === Code.DeadlineExceeded;
      if (attempt >= retries || !(busy || lost) || signal?.aborted) {
        throw error;
      }
      const wait = busy ? (retryDelayMs(error) ?? 1000) : 500 * 2 ** attempt;
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 30_000)));
    }
  }
}
