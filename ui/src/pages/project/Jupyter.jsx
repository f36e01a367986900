// The caller's own JupyterLab in the project: start it (environment, cores, memory), follow
// it while it starts, open it (through the service's proxy) and stop it. Members who may
// stop others' work also see every member's server, with Stop.
import { useState } from "preact/hooks";
import { all, api } from "../../api.js";
import { useAction, useLoad, usePoll } from "../../components/hooks.js";
import { useProject } from "../../components/project.jsx";
import { ConfirmButton, Empty, ErrorMessage, Loaded, Notice, Table, formatTime } from "../../components/ui.jsx";

const ACTIVE = new Set(["STARTING", "RUNNING", "STOPPING"]);
const WORDS = {
  STARTING: "Starting",
  RUNNING: "Running",
  STOPPING: "Stopping",
  STOPPED: "Stopped",
  FAILED: "Failed",
};

const mine = (path) =>
  api.get(`${path}/jupyter`).catch((error) => {
    if (error.status === 404) return null; // never started here
    throw error;
  });

function StartForm({ onStarted }) {
  const { path } = useProject();
  const start = useAction();
  const environments = useLoad(() => all(`${path}/environments`).catch(() => []), [path]);
  const names = new Set(["default", ...(environments.data || []).map((e) => e.name)]);
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const body = {
      environment: form.get("environment") || "default",
      resources: { cores: Number(form.get("cores")), memory_mb: Number(form.get("memory_mb")) },
    };
    const idle = (form.get("idle") || "").trim();
    if (idle) body.idle_timeout_minutes = Number(idle);
    start.run(async () => onStarted(await api.post(`${path}/jupyter`, body)));
  };
  return (
    <form onSubmit={submit} aria-labelledby="start-jupyter">
      <h3 id="start-jupyter">Start JupyterLab</h3>
      <div class="grid">
        <label>
          Environment
          <select name="environment">
            {[...names].map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Cores
          <input name="cores" type="number" min={1} max={256} defaultValue={1} required />
        </label>
        <label>
          Memory (MB)
          <input name="memory_mb" type="number" min={256} step={256} defaultValue={2048} required />
        </label>
        <label>
          Stop when idle for (minutes)
          <input name="idle" type="number" min={1} max={10080} placeholder="platform default" />
        </label>
      </div>
      <ErrorMessage error={start.error} />
      <button type="submit" aria-busy={start.busy} disabled={start.busy}>
        Start
      </button>
    </form>
  );
}

function Server({ server, onStopped }) {
  const { path } = useProject();
  const stop = useAction();
  const { state } = server;
  const ended = !ACTIVE.has(state);
  return (
    <>
      <p role="status" class="execution-state" aria-busy={state === "STARTING" || state === "STOPPING"}>
        Your server: <strong>{WORDS[state] || state}</strong>
        {state === "STARTING" && " — JupyterLab takes a few seconds to start…"}
        {ended && server.stop_reason && ` (${server.stop_reason})`}
      </p>
      <dl class="job-config">
        <dt>Environment</dt>
        <dd>{server.environment}</dd>
        <dt>Resources</dt>
        <dd>
          {server.resources.cores} {server.resources.cores === 1 ? "core" : "cores"}, {server.resources.memory_mb} MB
        </dd>
        <dt>Started</dt>
        <dd>{formatTime(server.started_at)}</dd>
        {server.stopped_at ? (
          <>
            <dt>Stopped</dt>
            <dd>{formatTime(server.stopped_at)}</dd>
          </>
        ) : (
          <>
            <dt>Stops when idle for</dt>
            <dd>{server.idle_timeout_minutes} minutes</dd>
          </>
        )}
        <dt>Used</dt>
        <dd>
          {server.usage.core_seconds.toFixed(0)} core-seconds ({server.usage.credits} {server.usage.credits === 1 ? "credit" : "credits"})
        </dd>
      </dl>
      {state === "FAILED" && server.log_tail && (
        <>
          <h4 id="jupyter-log">The end of its log</h4>
          <pre class="log" role="log" aria-labelledby="jupyter-log" tabIndex={0}>
            {server.log_tail}
          </pre>
        </>
      )}
      <ErrorMessage error={stop.error} />
      {!ended && (
        <div class="actions work-actions">
          {state === "RUNNING" && (
            <a href={`${path}/jupyter/proxy/lab`} target="_blank" rel="noopener" class="open-lab">
              Open JupyterLab<span class="visually-hidden"> (opens in a new tab)</span> ↗
            </a>
          )}
          {state !== "STOPPING" && (
            <ConfirmButton
              class="secondary"
              question="Stop your JupyterLab? Unsaved work in open notebooks is lost."
              disabled={stop.busy}
              aria-busy={stop.busy}
              onConfirm={() =>
                stop.run(async () => {
                  await api.del(`${path}/jupyter`);
                  onStopped();
                })
              }
            >
              Stop
            </ConfirmButton>
          )}
        </div>
      )}
    </>
  );
}

function Servers() {
  const { path } = useProject();
  const servers = useLoad(() => all(`${path}/jupyter/servers`), [path]);
  const stop = useAction();
  const [done, setDone] = useState("");
  const active = (servers.data || []).some((s) => s.state === "STARTING" || s.state === "STOPPING");
  usePoll(servers.reload, 2000, active);
  return (
    <section aria-labelledby="all-servers">
      <h3 id="all-servers">Every member's server</h3>
      {done && <Notice>{done}</Notice>}
      <ErrorMessage error={stop.error} />
      <Loaded state={servers}>
        {(rows) =>
          rows.length === 0 ? (
            <Empty>No member has started JupyterLab in this project.</Empty>
          ) : (
            <Table caption="Every member's notebook server">
              <thead>
                <tr>
                  <th scope="col">Member</th>
                  <th scope="col">State</th>
                  <th scope="col">Started</th>
                  <th scope="col">Last activity</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((s) => (
                  <tr key={s.user}>
                    <th scope="row">{s.user}</th>
                    <td>{WORDS[s.state] || s.state}</td>
                    <td>{formatTime(s.started_at)}</td>
                    <td>{formatTime(s.last_activity_at)}</td>
                    <td>
                      {(s.state === "RUNNING" || s.state === "STARTING") && (
                        <ConfirmButton
                          class="outline secondary"
                          aria-label={`Stop the server of ${s.user}`}
                          disabled={stop.busy}
                          question={`Stop the JupyterLab of ${s.user}? Their unsaved work is lost.`}
                          onConfirm={() =>
                            stop.run(async () => {
                              await api.del(`${path}/jupyter/servers/${encodeURIComponent(s.user)}`);
                              setDone(`The server of ${s.user} is stopped.`);
                              servers.reload();
                            })
                          }
                        >
                          Stop
                        </ConfirmButton>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
    </section>
  );
}

export function Jupyter() {
  const { path, can } = useProject();
  const server = useLoad(() => mine(path), [path]);
  const state = server.data?.state;
  usePoll(server.reload, 1000, state === "STARTING" || state === "STOPPING");
  if (!can("run_jobs")) {
    return (
      <>
        <h2>Jupyter</h2>
        <Empty>Your role in this project does not run notebooks; members (data owners and data scientists) do.</Empty>
      </>
    );
  }
  return (
    <>
      <h2>Jupyter</h2>
      <Loaded state={server}>
        {(data) => (
          <>
            {data ? <Server server={data} onStopped={server.reload} /> : <Empty>You have not started JupyterLab in this project yet.</Empty>}
            {(!data || !ACTIVE.has(data.state)) && <StartForm onStarted={server.reload} />}
          </>
        )}
      </Loaded>
      {can("stop_others_work") && <Servers key={state} />}
    </>
  );
}
