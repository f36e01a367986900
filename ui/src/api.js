// The one way the UI talks to the service: JSON over fetch with the session cookie, errors
// turned into sentences, a session renewed once when it lapses, and chunk uploads with
// progress (XMLHttpRequest: fetch reports no upload progress).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Words for people where the service's own message is written for programs.
const PLAIN = {
  0: "The service cannot be reached. Check your connection and try again.",
  401: "Your session has ended. Please sign in again.",
  413: "This is more than the project's quota allows.",
  429: "Too many attempts. Wait a moment and try again.",
  500: "Something went wrong on the server. Please try again; if it keeps happening, tell your platform administrator.",
  503: "A system the platform needs is not answering right now. Please try again shortly.",
};

export function describe(error) {
  if (!(error instanceof ApiError)) return error?.message || String(error);
  if (error.status === 0 || error.status >= 500 && !error.message) return PLAIN[error.status] || PLAIN[500];
  if (error.status === 401 && error.code !== "invalid_credentials") return PLAIN[401];
  // pydantic's "field: Value error, <the rule>" reads as the rule alone
  const message = error.message.replace(/^(\w+: )?Value error, /, "");
  return message || PLAIN[error.status] || `The request failed (${error.status}).`;
}

const expiredListeners = new Set();
/** Called once when the session cannot be renewed (the app shows the sign-in page). */
export function onSessionExpired(listener) {
  expiredListeners.add(listener);
  return () => expiredListeners.delete(listener);
}

async function asError(response) {
  let code = "http_error";
  let message = "";
  try {
    const body = await response.json();
    code = body?.error?.code ?? code;
    message = body?.error?.message ?? "";
  } catch {
    // not JSON: a proxy's page; the status speaks
  }
  if (response.status >= 500 && !message) message = PLAIN[response.status] || PLAIN[500];
  return new ApiError(response.status, code, message);
}

let renewing = null;
/** Renew the session from its refresh cookie; one renewal for every request that needs it. */
export function renewSession() {
  renewing ??= fetch("/api/auth/session/refresh", { method: "POST", credentials: "same-origin" })
    .then((r) => r.ok)
    .catch(() => false)
    .finally(() => setTimeout(() => (renewing = null), 0));
  return renewing;
}

function sessionEnded() {
  for (const listener of expiredListeners) listener();
}

const NO_RENEWAL = new Set(["/api/auth/session", "/api/auth/session/refresh"]);

/**
 * One call. A 401 renews the session once; if that fails the session has ended, which the
 * app is told of (it goes to the sign-in page), unless `keepSession`: then the caller says
 * what was lost first (an upload names its file) and the 401 is its to handle.
 */
export async function request(method, path, { json, body, headers = {}, query, signal, raw, keepSession } = {}) {
  const url = query ? `${path}?${new URLSearchParams(query)}` : path;
  const init = { method, headers: { ...headers }, credentials: "same-origin", signal };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(url, init);
    if (response.status === 401 && !NO_RENEWAL.has(path) && (await renewSession())) {
      response = await fetch(url, init);
    }
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network", PLAIN[0]);
  }
  if (!response.ok) {
    const error = await asError(response);
    if (response.status === 401 && !NO_RENEWAL.has(path) && !keepSession) sessionEnded();
    throw error;
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const api = {
  get: (path, query, options) => request("GET", path, { query, ...options }),
  post: (path, json, options) => request("POST", path, { json, ...options }),
  put: (path, json, options) => request("PUT", path, { json, ...options }),
  patch: (path, json, options) => request("PATCH", path, { json, ...options }),
  del: (path, options) => request("DELETE", path, options),
};

/** Every item of a paged listing ({items,total,limit,offset}), page by page. */
export async function all(path, query = {}) {
  const items = [];
  for (let offset = 0; ; ) {
    const page = await api.get(path, { ...query, limit: 500, offset });
    items.push(...page.items);
    offset += page.items.length;
    if (!page.items.length || offset >= page.total) return items;
  }
}

/** URL-encode each segment of a relative path, keeping the slashes. */
export const encodePath = (path) => path.split("/").filter(Boolean).map(encodeURIComponent).join("/");

/** PUT `body` with progress events; renews the session once, like `request`. */
export function putWithProgress(url, body, { onProgress, signal, headers = {}, keepSession } = {}) {
  const attempt = () =>
    new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      xhr.upload.onprogress = (event) => onProgress?.(event.loaded);
      xhr.onload = () => resolve(xhr);
      xhr.onerror = () => reject(new ApiError(0, "network", PLAIN[0]));
      xhr.onabort = () => reject(new DOMException("aborted", "AbortError"));
      signal?.addEventListener("abort", () => xhr.abort(), { once: true });
      xhr.send(body);
    });
  const settle = async (xhr) => {
    if (xhr.status >= 200 && xhr.status < 300) return xhr.responseText ? JSON.parse(xhr.responseText) : null;
    const response = new Response(xhr.responseText, { status: xhr.status });
    throw await asError(response);
  };
  return attempt().then(async (xhr) => {
    if (xhr.status === 401 && (await renewSession())) xhr = await attempt();
    if (xhr.status === 401 && !keepSession) sessionEnded();
    return settle(xhr);
  });
}
