// Uploads through the resumable upload-session API: a session reserves the quota for the
// whole file, then each chunk is a File.slice (never the whole file in memory) sent with
// progress, then `complete` assembles them. A session that ends midway (401 that cannot be
// renewed) stops the upload with `SessionEnded`, before the app goes to the sign-in page,
// so that the page can first say which file did not arrive.
import { ApiError, putWithProgress, request } from "../../../api.js";

/** 4 MiB: within the service's 1..64 MiB; a progress event per chunk at the least. */
export const CHUNK_SIZE = 4 * 1024 * 1024;

export class SessionEnded extends Error {
  constructor(file) {
    super(`Your session ended during the upload of ${file}; sign in again and upload it again.`);
    this.file = file;
  }
}

/** The API call, with the session's end turned into SessionEnded naming the file. */
async function named(file, call) {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) throw new SessionEnded(file);
    throw error;
  }
}

const call = (method, url, json, file) => named(file, () => request(method, url, { json, keepSession: true }));

const putChunk = (url, blob, { onProgress, signal, file }) =>
  named(file, () =>
    putWithProgress(url, blob, {
      onProgress,
      signal,
      keepSession: true,
      headers: { "Content-Type": "application/octet-stream" },
    }),
  );

/**
 * Upload `file` to `relative` (a path in the dataset) of the dataset at `datasetUrl`
 * (`/api/projects/p/datasets/d`). `onProgress(bytesSent)`; resolves to the UploadResult.
 */
export async function uploadFile(datasetUrl, relative, file, { onProgress, signal, overwrite = false }) {
  const uploads = `${datasetUrl}/uploads`;
  const session = await call(
    "POST",
    uploads,
    { path: relative, size: file.size, chunk_size: CHUNK_SIZE, overwrite },
    file.name,
  );
  const sessionUrl = `${uploads}/${encodeURIComponent(session.id)}`;
  try {
    const received = new Set(session.received);
    for (let number = 1; number <= session.total_chunks; number += 1) {
      const start = (number - 1) * session.chunk_size;
      const end = number === session.total_chunks ? file.size : start + session.chunk_size;
      if (!received.has(number)) {
        await putChunk(`${sessionUrl}/chunks/${number}`, file.slice(start, end), {
          onProgress: (loaded) => onProgress(Math.min(file.size, start + loaded)),
          signal,
          file: file.name,
        });
      }
      onProgress(end);
    }
    return await call("POST", `${sessionUrl}/complete`, undefined, file.name);
  } catch (error) {
    // give the quota back; with the session ended there is no one to ask (the reaper will)
    if (!(error instanceof SessionEnded)) {
      call("DELETE", sessionUrl, undefined, file.name).catch(() => {});
    }
    throw error;
  }
}
