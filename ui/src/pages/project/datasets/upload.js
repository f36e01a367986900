// Uploads through the resumable upload-session API: a session reserves the quota for the
// whole file, then each chunk is a File.slice (never the whole file in memory) sent with
// progress, then `complete` assembles them. A session that ends midway (401 that cannot be
// renewed) stops the upload with `SessionEnded`, before the app goes to the sign-in page,
// so that the page can first say which file did not arrive.
import { ApiError, renewSession } from "../../../api.js";

/** 4 MiB: within the service's 1..64 MiB; a progress event per chunk at the least. */
export const CHUNK_SIZE = 4 * 1024 * 1024;

export class SessionEnded extends Error {
  constructor(file) {
    super(`Your session ended during the upload of ${file}; sign in again and upload it again.`);
    this.file = file;
  }
}

async function errorOf(status, text) {
  let code = "http_error";
  let message = "";
  try {
    const body = JSON.parse(text);
    code = body?.error?.code ?? code;
    message = body?.error?.message ?? "";
  } catch {
    // not JSON: the status speaks
  }
  return new ApiError(status, code, message);
}

/** One JSON call that renews the session once and reports its end as SessionEnded. */
async function call(method, url, json, file) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  const send = async () => {
    try {
      return await fetch(url, init);
    } catch {
      throw new ApiError(0, "network", "");
    }
  };
  let response = await send();
  if (response.status === 401 && (await renewSession())) response = await send();
  if (response.status === 401) throw new SessionEnded(file);
  const text = await response.text();
  if (!response.ok) throw await errorOf(response.status, text);
  return text ? JSON.parse(text) : null;
}

/** PUT one chunk with progress (XHR: fetch reports no upload progress). */
function putChunk(url, blob, { onProgress, signal, file }) {
  const attempt = () =>
    new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = (event) => onProgress(event.loaded);
      xhr.onload = () => resolve(xhr);
      xhr.onerror = () => reject(new ApiError(0, "network", ""));
      xhr.onabort = () => reject(new DOMException("aborted", "AbortError"));
      signal?.addEventListener("abort", () => xhr.abort(), { once: true });
      xhr.send(blob);
    });
  return attempt().then(async (xhr) => {
    if (xhr.status === 401 && (await renewSession())) xhr = await attempt();
    if (xhr.status === 401) throw new SessionEnded(file);
    if (xhr.status < 200 || xhr.status >= 300) throw await errorOf(xhr.status, xhr.responseText);
    return xhr.responseText ? JSON.parse(xhr.responseText) : null;
  });
}

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
