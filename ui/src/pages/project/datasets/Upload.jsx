// Upload into a folder of a dataset: a labelled file input (the keyboard's way) and a drop
// zone for dragging files, several at once; each file with its own progress.
import { useRef, useState } from "preact/hooks";
import { api, describe } from "../../../api.js";
import { ErrorMessage, formatBytes } from "../../../components/ui.jsx";
import { SessionEnded, uploadFile } from "./upload.js";

const ENDED_KEY = "hops-upload-ended";

/** The message of an upload the session's end stopped, kept across the sign-in page. */
export function takeEndedUpload(pageUrl) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(ENDED_KEY) || "null");
    if (saved && saved.page === pageUrl) {
      sessionStorage.removeItem(ENDED_KEY);
      return saved.message;
    }
  } catch {
    // storage unavailable: nothing was kept
  }
  return null;
}

function explain(error, name) {
  if (error instanceof SessionEnded) return error.message;
  if (error?.code === "already_exists") return `${name} was not uploaded: a file of that name is already here; tick "Replace files that exist" to overwrite it.`;
  if (error?.status === 413) return `${name} was not uploaded: ${describe(error)} (the project's storage quota).`;
  return `${name} was not uploaded: ${describe(error)}`;
}

let nextId = 0;

export function Upload({ datasetUrl, folder, pageUrl, onUploaded }) {
  const [items, setItems] = useState([]);
  const [over, setOver] = useState(false);
  const [running, setRunning] = useState(false);
  const [ended, setEnded] = useState(null);
  const [summary, setSummary] = useState("");
  const overwrite = useRef(null);
  const input = useRef(null);

  const update = (id, change) => setItems((all) => all.map((it) => (it.id === id ? { ...it, ...change } : it)));

  const start = async (fileList) => {
    const files = [...fileList];
    if (!files.length) return;
    if (running) {
      setSummary("Wait for the current upload to finish before adding more files.");
      return;
    }
    const batch = files.map((file) => ({ id: ++nextId, file, name: file.name, size: file.size, sent: 0, state: "waiting", error: null }));
    setItems(batch);
    setSummary("");
    setEnded(null);
    setRunning(true);
    let done = 0;
    let failed = 0;
    for (const item of batch) {
      update(item.id, { state: "sending" });
      const relative = folder ? `${folder}/${item.name}` : item.name;
      try {
        await uploadFile(datasetUrl, relative, item.file, {
          overwrite: overwrite.current?.checked,
          onProgress: (sent) => update(item.id, { sent }),
        });
        done += 1;
        update(item.id, { state: "done", sent: item.size });
      } catch (error) {
        failed += 1;
        update(item.id, { state: "failed", error: explain(error, item.name) });
        if (error instanceof SessionEnded) {
          // nothing more can go; keep the message for after the sign-in page too
          try {
            sessionStorage.setItem(ENDED_KEY, JSON.stringify({ page: pageUrl, message: error.message }));
          } catch {
            // storage unavailable: the page says it now, which is what matters
          }
          setItems((all) => all.map((it) => (it.state === "waiting" ? { ...it, state: "stopped" } : it)));
          setEnded(error.message);
          setRunning(false);
          setSummary(`Upload stopped: the session ended (${item.name} was not stored).`);
          if (input.current) input.current.value = "";
          return;
        }
      }
    }
    setRunning(false);
    if (input.current) input.current.value = "";
    const words = (n) => `${n} file${n === 1 ? "" : "s"}`;
    setSummary(failed ? `Uploaded ${words(done)}; ${words(failed)} failed.` : `Uploaded ${words(done)}.`);
    onUploaded();
  };

  const onDrop = (event) => {
    event.preventDefault();
    setOver(false);
    start(event.dataTransfer?.files || []);
  };

  return (
    <section aria-labelledby="upload-heading">
      <h3 id="upload-heading">Upload files{folder ? ` to ${folder}` : ""}</h3>
      <div
        class={`dropzone${over ? " over" : ""}`}
        onDragOver={(event) => {
          event.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <p>Drop files here, or choose them:</p>
        <label>
          Files to upload
          <input ref={input} type="file" multiple disabled={running} onChange={(event) => start(event.currentTarget.files)} />
        </label>
        <label>
          <input ref={overwrite} type="checkbox" name="overwrite" /> Replace files that exist
        </label>
      </div>
      {items.length > 0 && (
        <ul class="ds-uploads">
          {items.map((item) => (
            <li key={item.id}>
              <span>
                {item.name}: {formatBytes(item.sent)} of {formatBytes(item.size)}
                {item.state === "done" && " — uploaded"}
                {item.state === "waiting" && " — waiting"}
                {item.state === "sending" && " — uploading"}
                {item.state === "stopped" && " — not sent"}
              </span>
              <progress value={item.sent} max={item.size || 1} aria-label={`Upload of ${item.name}`} />
              {item.state === "failed" && <ErrorMessage error={item.error} />}
            </li>
          ))}
        </ul>
      )}
      <p role="status" class="notice" aria-live="polite">
        {summary}
      </p>
      {ended && (
        <button
          type="button"
          onClick={() => {
            // any call now ends the session in the app, which shows the sign-in page
            // and brings the user back here (the message is kept until then)
            api.get("/api/users/me").catch(() => {});
          }}
        >
          Sign in again
        </button>
      )}
    </section>
  );
}
