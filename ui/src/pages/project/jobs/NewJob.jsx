// The form for a new job: a name, the program (a file in one of the project's datasets),
// its arguments and environment; resources and a schedule only for those who want them.
import { useState } from "preact/hooks";
import { all, api } from "../../../api.js";
import { useAction, useLoad } from "../../../components/hooks.js";
import { useProject } from "../../../components/project.jsx";
import { ErrorMessage } from "../../../components/ui.jsx";
import { parseArgs } from "./words.js";

const TYPES = [
  ["python", "Python"],
  ["pyspark", "PySpark"],
  ["spark", "Spark (Java/Scala jar)"],
];

export function NewJob({ onCreated }) {
  const { path } = useProject();
  const create = useAction();
  const [type, setType] = useState("python");
  const environments = useLoad(() => all(`${path}/environments`).catch(() => []), [path]);
  const names = new Set(["default", ...(environments.data || []).map((e) => e.name)]);

  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const number = (key) => Number(form.get(key));
    const resources = { cores: number("cores"), memory_mb: number("memory_mb") };
    if (type !== "python") {
      resources.executors = number("executors");
      resources.executor_memory_mb = number("executor_memory_mb");
    }
    const body = {
      name: form.get("name").trim(),
      type,
      app_path: form.get("app_path").trim().replace(/^\/+/, ""),
      args: parseArgs(form.get("args") || ""),
      environment: form.get("environment") || "default",
      resources,
    };
    if (type === "spark") body.main_class = form.get("main_class").trim() || null;
    const schedule = (form.get("schedule") || "").trim();
    if (schedule) body.schedule = schedule;
    create.run(async () => onCreated(await api.post(`${path}/jobs`, body)));
  };

  return (
    <section aria-labelledby="new-job">
      <h3 id="new-job">New job</h3>
      <form onSubmit={submit}>
        <div class="grid">
          <label>
            Job name
            <input name="name" required maxLength={64} pattern="[A-Za-z0-9][A-Za-z0-9_\-]*" title="Letters, digits, _ and -, starting with a letter or digit" aria-describedby="job-name-rule" />
            <small id="job-name-rule">Letters, digits, _ and -, starting with a letter or digit.</small>
          </label>
          <label>
            Type
            <select name="type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
              {TYPES.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </label>
        </div>
        <label>
          Program file
          <input
            name="app_path"
            required
            placeholder={type === "spark" ? "Resources/jobs/app.jar" : "Resources/jobs/main.py"}
            aria-describedby="app-path-rule"
          />
          <small id="app-path-rule">The dataset, then the path of the file in it, e.g. Resources/jobs/main.py.</small>
        </label>
        {type === "spark" && (
          <label>
            Main class
            <input name="main_class" required placeholder="org.example.Main" />
          </label>
        )}
        <div class="grid">
          <label>
            Arguments
            <textarea name="args" rows={2} aria-describedby="args-rule" />
            <small id="args-rule">One per line (optional).</small>
          </label>
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
        </div>
        <details>
          <summary>Resources and schedule</summary>
          <div class="grid">
            <label>
              {type === "python" ? "Cores" : "Driver cores"}
              <input name="cores" type="number" min={1} max={256} defaultValue={1} required />
            </label>
            <label>
              {type === "python" ? "Memory (MB)" : "Driver memory (MB)"}
              <input name="memory_mb" type="number" min={64} step={64} defaultValue={1024} required />
            </label>
          </div>
          {type !== "python" && (
            <div class="grid">
              <label>
                Executors
                <input name="executors" type="number" min={1} max={1000} defaultValue={1} required />
              </label>
              <label>
                Executor memory (MB)
                <input name="executor_memory_mb" type="number" min={64} step={64} defaultValue={1024} required />
              </label>
            </div>
          )}
          <label>
            Schedule (cron, UTC)
            <input name="schedule" placeholder="0 3 * * *" aria-describedby="schedule-rule" />
            <small id="schedule-rule">Five fields: minute hour day month weekday. Empty: run only when started.</small>
          </label>
        </details>
        <ErrorMessage error={create.error} />
        <button type="submit" aria-busy={create.busy} disabled={create.busy}>
          Create job
        </button>
      </form>
    </section>
  );
}
