// The project's servings: each serves one model version; created, started, stopped and
// deleted by members who may serve models, and tried out with a prediction request.
import { useCallback, useState } from "preact/hooks";
import { all, api, ApiError, describe, request } from "../../api.js";
import { useAction, useLoad, usePoll } from "../../components/hooks.js";
import { useProject } from "../../components/project.jsx";
import { ConfirmButton, Empty, ErrorMessage, Loaded, Notice, Table, formatTime } from "../../components/ui.jsx";

const ACTIVE = new Set(["STARTING", "RUNNING", "STOPPING"]);
const CHANGING = new Set(["STARTING", "STOPPING"]);
const STATE_WORDS = {
  STARTING: "Starting",
  RUNNING: "Running",
  STOPPING: "Stopping",
  STOPPED: "Stopped",
  FAILED: "Failed",
};
const SAMPLE = '{\n  "instances": [[0.1, 0.2], [0.9, 0.8]]\n}';

export function Servings() {
  const { path, home, can } = useProject();
  const servings = useLoad(() => all(`${path}/servings`), [path]);
  const changing = (servings.data || []).some((s) => CHANGING.has(s.state));
  const tick = useCallback(() => servings.reload(), [servings.reload]);
  usePoll(tick, 2000, changing);
  const act = useAction();
  const [done, setDone] = useState("");

  const run = (what, name, action) =>
    act.run(async () => {
      setDone("");
      await action();
      setDone(`${what} ${name}.`);
      servings.reload();
    });
  const base = (name) => `${path}/servings/${encodeURIComponent(name)}`;

  return (
    <>
      <h2>Servings</h2>
      <p>
        A serving answers predictions from one <a href={`${home}/models`}>model version</a>, through the platform only.
      </p>
      {done && <Notice>{done}</Notice>}
      <ErrorMessage error={act.error} />
      <Loaded state={servings}>
        {(items) =>
          items.length === 0 ? (
            <Empty>No servings in this project yet.</Empty>
          ) : (
            <Table caption="Servings">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Model</th>
                  <th scope="col">Version</th>
                  <th scope="col">State</th>
                  <th scope="col">Instances</th>
                  <th scope="col">Started by</th>
                  <th scope="col">Since</th>
                  {can("serve_models") && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody aria-live="polite">
                {items.map((s) => (
                  <tr key={s.name}>
                    <th scope="row">{s.name}</th>
                    <td>
                      <a href={`${home}/models/${encodeURIComponent(s.model)}`}>{s.model}</a>
                    </td>
                    <td>{s.version}</td>
                    <td>
                      <span class={`state state-${s.state.toLowerCase()}`} aria-busy={CHANGING.has(s.state) ? "true" : undefined}>
                        {STATE_WORDS[s.state] || s.state}
                      </span>
                      {s.stop_reason && !ACTIVE.has(s.state) && <small class="block">{s.stop_reason}</small>}
                    </td>
                    <td>{s.instances}</td>
                    <td>{s.started_by ?? ""}</td>
                    <td>{formatTime(ACTIVE.has(s.state) ? s.started_at : s.stopped_at || s.created_at)}</td>
                    {can("serve_models") && (
                      <td>
                        <div class="actions">
                          {!ACTIVE.has(s.state) && (
                            <button type="button" disabled={act.busy} onClick={() => run("Starting", s.name, () => api.post(`${base(s.name)}/start`))}>
                              Start {s.name}
                            </button>
                          )}
                          {(s.state === "RUNNING" || s.state === "STARTING") && (
                            <button type="button" class="secondary" disabled={act.busy} onClick={() => run("Stopped", s.name, () => api.post(`${base(s.name)}/stop`))}>
                              Stop {s.name}
                            </button>
                          )}
                          {!ACTIVE.has(s.state) && (
                            <ConfirmButton
                              class="contrast"
                              disabled={act.busy}
                              question={`Delete the serving ${s.name}? The model version stays in the registry.`}
                              onConfirm={() => run("Deleted", s.name, () => api.del(base(s.name)))}
                            >
                              Delete {s.name}
                            </ConfirmButton>
                          )}
                        </div>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
      {can("serve_models") && (
        <>
          {servings.data?.length > 0 && <Predict servings={servings.data} />}
          <NewServing onCreated={(name) => (setDone(`Created ${name}; it is starting.`), servings.reload())} />
        </>
      )}
    </>
  );
}

function NewServing({ onCreated }) {
  const { path } = useProject();
  const models = useLoad(() => all(`${path}/models`), [path]);
  const [model, setModel] = useState("");
  const create = useAction();
  const chosen = (models.data || []).find((m) => m.name === model) || models.data?.[0];

  const submit = (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = Object.fromEntries(new FormData(form));
    create.run(async () => {
      await api.post(`${path}/servings`, {
        name: data.name,
        model: data.model,
        version: Number(data.version),
        instances: Number(data.instances || 1),
      });
      form.reset();
      onCreated(data.name);
    });
  };

  return (
    <section aria-labelledby="new-serving">
      <h3 id="new-serving">New serving</h3>
      <Loaded state={models}>
        {(items) =>
          items.length === 0 ? (
            <Empty>Register a model first: a serving serves one version of a registered model.</Empty>
          ) : (
            <form onSubmit={submit}>
              <div class="grid">
                <label>
                  Serving name
                  <input name="name" required maxLength={40} aria-describedby="serving-rule" />
                  <small id="serving-rule">Lower-case letters, digits and '-'.</small>
                </label>
                <label>
                  Model
                  <select name="model" value={chosen?.name} onChange={(e) => setModel(e.currentTarget.value)}>
                    {items.map((m) => (
                      <option key={m.name} value={m.name}>
                        {m.name}
                      </option>
                    ))}
                  </select>
                </label>
                <label>
                  Version
                  <select name="version" key={chosen?.name}>
                    {[...(chosen?.versions || [])].reverse().map((v) => (
                      <option key={v} value={v}>
                        {v}
                      </option>
                    ))}
                  </select>
                </label>
                <label>
                  Instances
                  <input name="instances" type="number" min={1} max={16} defaultValue={1} />
                </label>
              </div>
              <ErrorMessage error={create.error} />
              <button type="submit" aria-busy={create.busy} disabled={create.busy}>
                Create and start serving
              </button>
            </form>
          )
        }
      </Loaded>
    </section>
  );
}

/** The platform's answers to a prediction, in words where the service speaks to programs. */
function predictError(error, name) {
  if (error instanceof ApiError) {
    if (error.code === "serving_not_running")
      return `The serving ${name} is not running, so it cannot answer. Start it and wait until it is Running.`;
    if (error.code === "serving_elsewhere")
      return `The serving ${name} runs on another instance of the platform, which this request did not reach. Try again in a moment.`;
  }
  return describe(error);
}

function Predict({ servings }) {
  const { path } = useProject();
  const [name, setName] = useState(servings.find((s) => s.state === "RUNNING")?.name || servings[0].name);
  const [text, setText] = useState(SAMPLE);
  const [answer, setAnswer] = useState(null);
  const [problem, setProblem] = useState("");
  const [busy, setBusy] = useState(false);
  const target = servings.find((s) => s.name === name) ? name : servings[0].name;

  const submit = async (event) => {
    event.preventDefault();
    setProblem("");
    setAnswer(null);
    let body;
    try {
      body = JSON.parse(text);
    } catch (error) {
      setProblem(`The request is not valid JSON (${error.message}). Write an object such as {"instances": [[1, 2]]}.`);
      return;
    }
    setBusy(true);
    try {
      const reply = await request("POST", `${path}/servings/${encodeURIComponent(target)}:predict`, { json: body });
      setAnswer(JSON.stringify(reply, null, 2));
    } catch (error) {
      setProblem(predictError(error, target));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="predict-heading">
      <h3 id="predict-heading">Try a prediction</h3>
      <form onSubmit={submit}>
        <label>
          Serving
          <select value={target} onChange={(e) => setName(e.currentTarget.value)}>
            {servings.map((s) => (
              <option key={s.name} value={s.name}>
                {s.name} ({STATE_WORDS[s.state] || s.state})
              </option>
            ))}
          </select>
        </label>
        <label>
          Request (JSON)
          <textarea rows={6} spellcheck={false} class="code" value={text} onInput={(e) => setText(e.currentTarget.value)} aria-describedby="predict-help" />
          <small id="predict-help">KServe's v1 protocol: {'{"instances": [...]}'}, one row per prediction.</small>
        </label>
        <button type="submit" aria-busy={busy} disabled={busy}>
          Send
        </button>
      </form>
      <ErrorMessage error={problem} />
      <h4 id="predict-answer">Answer</h4>
      <pre class="log" aria-live="polite" aria-labelledby="predict-answer" tabIndex={0}>
        {answer ?? "No answer yet."}
      </pre>
    </section>
  );
}
