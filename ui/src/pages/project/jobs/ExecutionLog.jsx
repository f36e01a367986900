// One execution's state and logs, followed live: while it runs, its state and the logs so
// far are read every second (the API answers a log whole, so only what is new is added);
// once it has ended the kept logs are read a last time and the polling stops.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, describe, request } from "../../../api.js";
import { usePoll } from "../../../components/hooks.js";
import { ErrorMessage } from "../../../components/ui.jsx";
import { ACTIVE, duration, stateWords } from "./words.js";

const readLog = (url, stream) =>
  request("GET", `${url}/log`, { query: { stream }, raw: true }).then((response) => response.text());

/** A growing text: only the new end is appended (a log only grows while it runs). */
const grow = (previous, text) => (text === previous ? previous : text.startsWith(previous) ? previous + text.slice(previous.length) : text);

function Log({ id, label, text, empty }) {
  const box = useRef(null);
  const pinned = useRef(true);
  useEffect(() => {
    const element = box.current;
    if (element && pinned.current) element.scrollTop = element.scrollHeight;
  }, [text]);
  const onScroll = (event) => {
    const element = event.currentTarget;
    pinned.current = element.scrollHeight - element.scrollTop - element.clientHeight < 24;
  };
  return (
    <>
      <h4 id={id}>{label}</h4>
      <pre class="log" role="log" aria-live="polite" aria-labelledby={id} tabIndex={0} ref={box} onScroll={onScroll}>
        {text || empty}
      </pre>
    </>
  );
}

export function ExecutionLog({ jobUrl, executionId, onChange, mayStop, onStop, stopping }) {
  const url = `${jobUrl}/executions/${executionId}`;
  const [execution, setExecution] = useState(null);
  const [out, setOut] = useState("");
  const [err, setErr] = useState("");
  const [error, setError] = useState(null);
  const current = useRef(url);
  const busy = useRef(false);
  const seen = useRef(null);
  const ticks = useRef(0);
  const changed = useRef(onChange);
  changed.current = onChange;

  const tick = useCallback(async () => {
    if (busy.current) return;
    busy.current = true;
    try {
      // the state first: once it has ended, the logs read next are complete
      const state = await api.get(url);
      // every log read is audited: the error stream, rarely long, every 5th second only
      // while it runs (and once it has ended)
      const withErrors = !ACTIVE.has(state.state) || ticks.current % 5 === 0;
      ticks.current += 1;
      const [stdout, stderr] = await Promise.all([
        readLog(url, "stdout"),
        withErrors ? readLog(url, "stderr") : Promise.resolve(null),
      ]);
      if (current.current !== url) return;
      setOut((previous) => grow(previous, stdout));
      if (stderr !== null) setErr((previous) => grow(previous, stderr));
      if (seen.current && seen.current !== state.state) changed.current?.(state);
      seen.current = state.state;
      setExecution(state);
      setError(null);
    } catch (e) {
      if (current.current === url) setError(describe(e));
    } finally {
      busy.current = false;
    }
  }, [url]);

  useEffect(() => {
    current.current = url;
    setExecution(null);
    setOut("");
    setErr("");
    setError(null);
    busy.current = false;
    seen.current = null;
    ticks.current = 0;
    tick();
  }, [url]);

  const running = !!execution && ACTIVE.has(execution.state);
  usePoll(tick, 1000, running);

  const base = `execution-${executionId}`;
  return (
    <section aria-labelledby={`${base}-title`}>
      <h3 id={`${base}-title`}>Execution {executionId}</h3>
      <ErrorMessage error={error} />
      {execution && (
        <p role="status" class="execution-state">
          <strong>{stateWords(execution)}</strong>
          {running ? " — following its log…" : ""}
          {execution.duration_s !== null && <span> · {duration(execution.duration_s)}</span>}
          {execution.submitted_by && <span> · run by {execution.submitted_by}</span>}
          {execution.args.length > 0 && <span> · arguments: {execution.args.join(" ")}</span>}
        </p>
      )}
      {running && mayStop?.(execution) && (
        <button type="button" class="outline secondary" disabled={stopping} aria-busy={stopping} onClick={() => onStop(execution)}>
          Stop this execution
        </button>
      )}
      <Log id={`${base}-out`} label="Output" text={out} empty={running || !execution ? "" : "(no output)"} />
      {(err || execution?.state === "FAILED") && (
        <Log id={`${base}-err`} label="Errors" text={err} empty="(nothing on the error stream)" />
      )}
    </section>
  );
}
