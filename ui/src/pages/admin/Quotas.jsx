// Every project of the platform and, for the one chosen, its quotas: usage, limits, and a
// form that changes only the limits edited (empty = unlimited).
import { useState } from "preact/hooks";
import { all, api } from "../../api.js";
import { useAction, useLoad } from "../../components/hooks.js";
import { Empty, ErrorMessage, Loaded, Notice, Table, UsageBar, formatBytes, formatTime } from "../../components/ui.jsx";

const GIB = 1024 ** 3;
// key, label, unit of the form's field, bytes per unit (null: a plain count)
const LIMITS = [
  ["storage_bytes", "Storage", "GiB", GIB],
  ["storage_files", "Files", "files", null],
  ["hive_bytes", "Hive storage", "GiB", GIB],
  ["compute_seconds", "Compute", "credits (core-seconds)", null],
  ["gpus", "GPUs at once", "GPUs", null],
  ["kafka_topics", "Kafka topics", "topics", null],
];

const shown = (limit, scale) => (limit === null ? "" : scale ? String(+(limit / scale).toFixed(3)) : String(limit));

export function Quotas({ project }) {
  const projects = useLoad(() => all("/api/projects"));
  return (
    <section aria-labelledby="quotas-heading">
      <h2 id="quotas-heading">Projects &amp; quotas</h2>
      {project && <QuotaEditor project={project} key={project} />}
      <Loaded state={projects}>
        {(items) =>
          items.length === 0 ? (
            <Empty>There are no projects yet.</Empty>
          ) : (
            <Table caption="Every project">
              <thead>
                <tr>
                  <th scope="col">Project</th>
                  <th scope="col">Description</th>
                  <th scope="col">Created</th>
                  <th scope="col">Quotas</th>
                </tr>
              </thead>
              <tbody>
                {items.map((p) => (
                  <tr key={p.id}>
                    <th scope="row">
                      <a href={`/p/${encodeURIComponent(p.name)}`}>{p.name}</a>
                    </th>
                    <td>{p.description}</td>
                    <td>{formatTime(p.created_at)}</td>
                    <td>
                      <a href={`/admin/quotas/${encodeURIComponent(p.name)}`} aria-current={p.name === project ? "page" : undefined}>
                        Quotas of {p.name}
                      </a>
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

function QuotaEditor({ project }) {
  const url = `/api/projects/${encodeURIComponent(project)}/quotas`;
  const quotas = useLoad(() => api.get(url), [url]);
  const save = useAction();
  const [done, setDone] = useState("");

  const submit = (event) => {
    event.preventDefault();
    const form = Object.fromEntries(new FormData(event.currentTarget));
    const current = quotas.data;
    const changes = {};
    for (const [key, , , scale] of LIMITS) {
      const value = form[key].trim();
      if (value === shown(current[key].limit, scale)) continue;
      changes[key] = value === "" ? null : Math.round(Number(value) * (scale || 1));
    }
    if (form.compute_payment !== current.compute_payment) changes.compute_payment = form.compute_payment;
    setDone("");
    if (Object.keys(changes).length === 0) {
      setDone("Nothing was changed.");
      return;
    }
    save.run(async () => {
      await api.put(url, changes);
      const words = Object.entries(changes).map(([key, value]) => {
        const [, label, unit, scale] = LIMITS.find(([k]) => k === key) || [key, "Compute payment"];
        if (value === null) return `${label} unlimited`;
        return unit ? `${label} ${scale ? +(value / scale).toFixed(3) : value} ${unit}` : `${label} ${value}`;
      });
      setDone(`The quotas of ${project} are saved: ${words.join(", ")}.`);
      quotas.reload();
    });
  };

  return (
    <article aria-labelledby="quota-editor">
      <h3 id="quota-editor">Quotas of {project}</h3>
      <Loaded state={quotas}>
        {(q) => (
          <>
            {LIMITS.map(([key, label, , scale]) => (
              <UsageBar key={key} label={label} used={q[key].usage} limit={q[key].limit} format={scale ? formatBytes : (v) => v} />
            ))}
            {q.compute_stopped && <p class="error-message">Compute is stopped: the project's credits are spent.</p>}
            <form onSubmit={submit} key={JSON.stringify(q)}>
              <p>Leave a field empty for no limit. Only the fields you change are saved.</p>
              <div class="grid quota-grid">
                {LIMITS.map(([key, label, unit, scale]) => (
                  <label key={key}>
                    {label} limit ({unit})
                    <input
                      name={key}
                      type="number"
                      min={0}
                      step={scale ? "any" : 1}
                      defaultValue={shown(q[key].limit, scale)}
                      placeholder="unlimited"
                    />
                  </label>
                ))}
                <label>
                  Compute payment
                  <select name="compute_payment" defaultValue={q.compute_payment}>
                    <option value="NOLIMIT">Counted, never stopped (NOLIMIT)</option>
                    <option value="PREPAID">Stopped when the credits are spent (PREPAID)</option>
                  </select>
                </label>
              </div>
              {done && <Notice>{done}</Notice>}
              <ErrorMessage error={save.error} />
              <button type="submit" aria-busy={save.busy} disabled={save.busy}>
                Save quotas of {project}
              </button>
            </form>
          </>
        )}
      </Loaded>
    </article>
  );
}
