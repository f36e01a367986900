// A project's overview (/p/{project}): what it is for, the caller's role, its quotas with
// their usage, who is in it, and leaving or deleting it. Platform administrators (who are
// not members) see the quotas and change them here.
import { useLocation } from "preact-iso";
import { useState } from "preact/hooks";
import { api } from "../../api.js";
import { useAction, useLoad } from "../../components/hooks.js";
import { useProject } from "../../components/project.jsx";
import { ConfirmButton, Empty, ErrorMessage, Loaded, Notice, UsageBar, formatBytes, formatTime } from "../../components/ui.jsx";
import { useSession } from "../../session.jsx";

export const ROLE_NAMES = { data_owner: "Data owner", data_scientist: "Data scientist" };

const count = (value) => (value ?? 0).toLocaleString();

// the limits of QuotaRead, in the order they are shown; `bytes` ones are entered with a unit
const LIMITS = [
  { key: "storage_bytes", label: "Storage", bytes: true },
  { key: "storage_files", label: "Files" },
  { key: "hive_bytes", label: "Hive database", bytes: true },
  { key: "compute_seconds", label: "Compute credits" },
  { key: "gpus", label: "GPUs" },
  { key: "kafka_topics", label: "Kafka topics" },
];

const UNITS = [
  ["B", 1],
  ["KiB", 1024],
  ["MiB", 1024 ** 2],
  ["GiB", 1024 ** 3],
  ["TiB", 1024 ** 4],
];

export function Home() {
  const { can } = useProject();
  return (
    <>
      <About />
      <Quotas />
      {can("view_project") && <MembersSummary />}
      {(can("leave_project") || can("delete_project")) && <LeaveOrDelete />}
    </>
  );
}

function About() {
  const { project, path, can, reload } = useProject();
  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState(false);
  const save = useAction();

  const submit = (event) => {
    event.preventDefault();
    const description = new FormData(event.currentTarget).get("description");
    save.run(async () => {
      await api.patch(path, { description });
      await reload();
      setEditing(false);
      setSaved(true);
    });
  };

  return (
    <section aria-labelledby="about-project">
      <h2 id="about-project">About</h2>
      {editing ? (
        <form onSubmit={submit}>
          <label>
            Description
            <textarea name="description" rows={3} maxLength={2000} defaultValue={project.description} />
          </label>
          <ErrorMessage error={save.error} />
          <div class="actions">
            <button type="submit" aria-busy={save.busy} disabled={save.busy}>
              Save description
            </button>
            <button
              type="button"
              class="secondary"
              onClick={() => {
                save.clear();
                setEditing(false);
              }}
            >
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <>
          {project.description ? <p class="description">{project.description}</p> : <Empty>No description yet.</Empty>}
          {can("manage_datasets") && (
            <button
              type="button"
              class="outline"
              onClick={() => {
                setSaved(false);
                setEditing(true);
              }}
            >
              Edit description
            </button>
          )}
          {saved && <Notice>The description is saved.</Notice>}
        </>
      )}
      <dl class="overview-facts">
        <dt>Created</dt>
        <dd>
          <time dateTime={project.created_at}>{formatTime(project.created_at)}</time>
        </dd>
        <dt>Your role</dt>
        <dd>{project.role ? ROLE_NAMES[project.role] || project.role : "Platform administrator (not a member)"}</dd>
      </dl>
    </section>
  );
}

function Quotas() {
  const { path, can } = useProject();
  const quotas = useLoad(() => api.get(`${path}/quotas`), [path]);
  return (
    <section aria-labelledby="project-quotas">
      <h2 id="project-quotas">Quotas</h2>
      <Loaded state={quotas}>
        {(q) => (
          <>
            <div class="quota-list">
              {LIMITS.map(({ key, label, bytes }) => (
                <UsageBar key={key} label={label} used={q[key].usage} limit={q[key].limit} format={bytes ? formatBytes : count} />
              ))}
            </div>
            <p>
              <small>
                {q.compute_payment === "PREPAID"
                  ? "Compute is prepaid: work stops when the credits are spent."
                  : "Compute is not limited: credits are counted, never stopped."}
                {q.compute_stopped && " Compute is stopped: the credits are spent."}
                {` A GPU-second costs ${q.gpu_credit_multiplier} credits.`}
              </small>
            </p>
            {can("set_quotas") && <QuotaForm quotas={q} onSaved={quotas.reload} />}
          </>
        )}
      </Loaded>
    </section>
  );
}

/** The unit a byte limit reads best in: the largest that divides it exactly. */
function unitFor(limit) {
  if (!limit) return "GiB";
  for (let i = UNITS.length - 1; i > 0; i -= 1) {
    if (limit % UNITS[i][1] === 0) return UNITS[i][0];
  }
  return "B";
}

function initialValues(quotas) {
  const values = { compute_payment: quotas.compute_payment };
  for (const { key, bytes } of LIMITS) {
    const limit = quotas[key].limit;
    if (bytes) {
      const unit = unitFor(limit);
      values[`${key}_unit`] = unit;
      values[key] = limit === null ? "" : String(limit / Object.fromEntries(UNITS)[unit]);
    } else {
      values[key] = limit === null ? "" : String(limit);
    }
  }
  return values;
}

function QuotaForm({ quotas, onSaved }) {
  const { path } = useProject();
  const [message, setMessage] = useState(null);
  const save = useAction();

  const submit = (event) => {
    event.preventDefault();
    setMessage(null);
    const form = Object.fromEntries(new FormData(event.currentTarget));
    const factors = Object.fromEntries(UNITS);
    const changes = {};
    for (const { key, label, bytes } of LIMITS) {
      const text = String(form[key] ?? "").trim();
      let value = null;
      if (text !== "") {
        const number = Number(text) * (bytes ? factors[form[`${key}_unit`]] : 1);
        if (!Number.isFinite(number) || number < 0 || (!bytes && !Number.isInteger(number))) {
          save.run(() => Promise.reject(new Error(`${label}: enter a whole number of 0 or more, or leave it empty for no limit.`)));
          return;
        }
        value = Math.round(number);
      }
      if (value !== quotas[key].limit) changes[key] = value;
    }
    if (form.compute_payment !== quotas.compute_payment) changes.compute_payment = form.compute_payment;
    if (Object.keys(changes).length === 0) {
      save.clear();
      setMessage("Nothing changed.");
      return;
    }
    save.run(async () => {
      await api.put(`${path}/quotas`, changes);
      setMessage("The quotas are saved.");
      onSaved();
    });
  };

  const values = initialValues(quotas);
  return (
    <form onSubmit={submit} class="quota-form" aria-labelledby="change-quotas">
      <h3 id="change-quotas">Change quotas</h3>
      <p>
        <small>Leave a field empty for no limit. A limit below the current usage blocks new work and deletes nothing.</small>
      </p>
      <div class="quota-fields">
        {LIMITS.map(({ key, label, bytes }) =>
          bytes ? (
            <div key={key} class="quota-bytes">
              <label for={`quota-${key}`}>{label} limit</label>
              <div role="group">
                <input id={`quota-${key}`} name={key} type="number" min="0" step="any" inputMode="decimal" defaultValue={values[key]} />
                <select name={`${key}_unit`} aria-label={`Unit of the ${label.toLowerCase()} limit`}>
                  {UNITS.map(([unit]) => (
                    <option key={unit} value={unit} selected={unit === values[`${key}_unit`]}>
                      {unit}
                    </option>
                  ))}
                </select>
              </div>
            </div>
          ) : (
            <label key={key}>
              {label} limit
              <input name={key} type="number" min="0" step="1" inputMode="numeric" defaultValue={values[key]} />
            </label>
          ),
        )}
        <label>
          Compute payment
          <select name="compute_payment">
            <option value="NOLIMIT" selected={values.compute_payment === "NOLIMIT"}>
              Counted, never stopped
            </option>
            <option value="PREPAID" selected={values.compute_payment === "PREPAID"}>
              Prepaid: stop when credits are spent
            </option>
          </select>
        </label>
      </div>
      <ErrorMessage error={save.error} />
      {message && <Notice>{message}</Notice>}
      <button type="submit" aria-busy={save.busy} disabled={save.busy}>
        Save quotas
      </button>
    </form>
  );
}

function MembersSummary() {
  const { path, home, can } = useProject();
  const members = useLoad(() => api.get(`${path}/members`, { limit: 500 }), [path]);
  return (
    <section aria-labelledby="members-summary">
      <h2 id="members-summary">Members</h2>
      <Loaded state={members}>
        {(page) => {
          const owners = page.items.filter((m) => m.role === "data_owner").length;
          const scientists = page.items.filter((m) => m.role === "data_scientist").length;
          return (
            <p>
              {page.total === 1 ? "1 member" : `${page.total} members`}: {owners === 1 ? "1 data owner" : `${owners} data owners`},{" "}
              {scientists === 1 ? "1 data scientist" : `${scientists} data scientists`}.{" "}
              <a href={`${home}/members`}>{can("manage_members") ? "See and manage the members" : "See the members"}</a>
            </p>
          );
        }}
      </Loaded>
    </section>
  );
}

function LeaveOrDelete() {
  const { project, path, can } = useProject();
  const { user } = useSession();
  const location = useLocation();
  const leave = useAction();
  const remove = useAction();
  return (
    <section aria-labelledby="leave-or-delete">
      <h2 id="leave-or-delete">{can("delete_project") ? "Leave or delete the project" : "Leave the project"}</h2>
      <div class="actions">
        {can("leave_project") && user && (
          <ConfirmButton
            class="secondary"
            question={`Leave project ${project.name}? You lose access to its data until a data owner adds you again.`}
            aria-busy={leave.busy}
            disabled={leave.busy || remove.busy}
            onConfirm={() =>
              leave.run(async () => {
                await api.del(`${path}/members/${encodeURIComponent(user.email)}`);
                location.route("/");
              })
            }
          >
            Leave project
          </ConfirmButton>
        )}
        {can("delete_project") && (
          <ConfirmButton
            class="contrast"
            question={`Delete project ${project.name} and all its data, jobs, models and servings? This cannot be undone.`}
            aria-busy={remove.busy}
            disabled={leave.busy || remove.busy}
            onConfirm={() =>
              remove.run(async () => {
                await api.del(path);
                location.route("/");
              })
            }
          >
            Delete project
          </ConfirmButton>
        )}
      </div>
      {remove.busy && <p role="status">Deleting the project in every system…</p>}
      <ErrorMessage error={leave.error || remove.error} />
    </section>
  );
}
