// Small pieces every page uses. Pico styles the native elements; these add the meaning.

export function ErrorMessage({ error }) {
  if (!error) return null;
  return (
    <p role="alert" class="error-message">
      {error}
    </p>
  );
}

export function Notice({ children }) {
  return (
    <p role="status" class="notice">
      {children}
    </p>
  );
}

export function Loading({ what = "Loading" }) {
  return <p aria-busy="true">{what}…</p>;
}

/** A page's data: a spinner, its error, or the content. */
export function Loaded({ state, children }) {
  if (state.error) return <ErrorMessage error={state.error} />;
  if (state.loading && state.data === null) return <Loading />;
  return children(state.data);
}

export function Empty({ children }) {
  return <p class="empty">{children}</p>;
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A button that asks first (the browser's confirm dialog is accessible and keyboard-ready). */
export function ConfirmButton({ question, onConfirm, children, ...props }) {
  return (
    <button
      type="button"
      {...props}
      onClick={() => {
        if (window.confirm(question)) onConfirm();
      }}
    >
      {children}
    </button>
  );
}

/** A labelled usage bar: used of limit, with the numbers in words for screen readers. */
export function UsageBar({ label, used, limit, format = (v) => v }) {
  const unlimited = limit === null || limit === undefined;
  return (
    <div class="usage">
      <span>
        {label}: {format(used)}
        {unlimited ? " (no limit)" : ` of ${format(limit)}`}
      </span>
      {!unlimited && <progress value={Math.min(used, limit)} max={limit || 1} aria-label={label} />}
    </div>
  );
}

/** A table that scrolls sideways on narrow screens instead of breaking the page; the
 * scrolling box is focusable so keyboard users can scroll it too. */
export function Table({ caption, children }) {
  return (
    <div class="overflow-auto" tabIndex={0} role="region" aria-label={caption || "Table"}>
      <table class="striped">
        {caption && <caption class="visually-hidden">{caption}</caption>}
        {children}
      </table>
    </div>
  );
}
