// One job: its configuration, a Run button (with arguments for this run), its executions
// (newest first, paged) with Stop for running ones, and the chosen execution's live log.
import { useLocation } from "preact-iso";
import { useState } from "preact/hooks";
import { api } from "../../../api.js";
import { useAction, useLoad, usePoll } from "../../../components/hooks.js";
import { useProject } from "../../../components/project.jsx";
import { Empty, ErrorMessage, Loaded, Table, formatTime } from "../../../components/ui.jsx";
import { useSession } from "../../../session.jsx";
import { ExecutionLog } from "./ExecutionLog.jsx";
import { ACTIVE, duration, parseArgs, stateWords } from "./words.js";

const PAGE = 10;

function Configuration({ job }) {
  const r = job.resources;
  const spark = job.type !== "python";
  return (
    <dl class="job-config">
      <dt>Type</dt>
      <dd>{job.type}</dd>
      <dt>Program</dt>
      <dd>
        <code>{job.app_path}</code>
      </dd>
      {job.main_class && (
        <>
          <dt>Main class</dt>
          <dd>
            <code>{job.main_class}</code>
          </dd>
        </>
      )}
      <dt>Arguments</dt>
      <dd>{job.args.length ? job.args.map((a, i) => <code key={i}>{a}</code>) : "none"}</dd>
      <dt>Environment</dt>
      <dd>{job.environment}</dd>
      <dt>Resources</dt>
      <dd>
        {r.cores} {r.cores === 1 ? "core" : "cores"}, {r.memory_mb} MB
        {r.gpus ? `, ${r.gpus} GPU` : ""}
        {spark && `; ${r.executors} executor(s) of ${r.executor_cores} core(s), ${r.executor_memory_mb} MB`}
      </dd>
      <dt>Schedule</dt>
      <dd>{job.schedule ? `${job.schedule} (UTC), next ${formatTime(job.next_run_at)}` : "none: runs when started"}</dd>
      <dt>Created</dt>
      <dd>
        {formatTime(job.created_at)}
        {job.creator ? ` by ${job.creator}` : ""}
      </dd>
    </dl>
  );
}

function RunForm({ job, onStarted }) {
  const { path } = useProject();
  const start = useAction();
  const submit = (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const args = parseArgs(new FormData(form).get("args") || "");
    start.run(async () => {
      const execution = await api.post(`${path}/jobs/${encodeURIComponent(job.name)}/executions`, args.length ? { args } : {});
      form.reset();
      onStarted(execution);
    });
  };
  return (
    <form onSubmit={submit} class="run-form">
      <label>
        Arguments for this run
        <textarea name="args" rows={2} placeholder={job.args.join("\n")} aria-describedby="run-args-rule" />
        <small id="run-args-rule">One per line. Empty: the job's own arguments.</small>
      </label>
      <ErrorMessage error={start.error} />
      <button type="submit" aria-busy={start.busy} disabled={start.busy}>
        Run
      </button>
    </form>
  );
}

function Executions({ jobHref, page, selected, mayStop, onStop, stopping, offset, setOffset }) {
  if (page.total === 0) return <Empty>This job has not run yet.</Empty>;
  return (
    <>
      <Table caption="Executions, newest first">
        <thead>
          <tr>
            <th scope="col">Execution</th>
            <th scope="col">State</th>
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
            <th scope="col">Run by</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {page.items.map((e) => (
            <tr key={e.id}>
              <th scope="row">
                <a href={`${jobHref}/${e.id}`} aria-current={e.id === selected ? "true" : undefined}>
                  {e.id}
                </a>
              </th>
              <td>{stateWords(e)}</td>
              <td>{formatTime(e.started_at || e.submitted_at)}</td>
              <td>{duration(e.duration_s)}</td>
              <td>{e.submitted_by || "(former member)"}</td>
              <td>
                {mayStop(e) && (
                  <button type="button" class="outline secondary" disabled={stopping} onClick={() => onStop(e)} aria-label={`Stop execution ${e.id}`}>
                    Stop
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </Table>
      {page.total > PAGE && (
        <nav aria-label="Executions pages" class="actions">
          <button type="button" class="outline" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            Newer
          </button>
          <span>
            {offset + 1}–{Math.min(offset + PAGE, page.total)} of {page.total}
          </span>
          <button type="button" class="outline" disabled={offset + PAGE >= page.total} onClick={() => setOffset(offset + PAGE)}>
            Older
          </button>
        </nav>
      )}
    </>
  );
}

export function JobDetail({ job: name, execution }) {
  const { path, home, can } = useProject();
  const location = useLocation();
  const jobUrl = `${path}/jobs/${encodeURIComponent(name)}`;
  const jobHref = `${home}/jobs/${encodeURIComponent(name)}`;
  const job = useLoad(() => api.get(jobUrl), [jobUrl]);
  const [offset, setOffset] = useState(0);
  const executions = useLoad(() => api.get(`${jobUrl}/executions`, { limit: PAGE, offset }), [jobUrl, offset]);
  const stop = useAction();
  const { user } = useSession();
  // the API decides; this only spares offering what it would refuse
  const mayStop = (e) => ACTIVE.has(e.state) && (e.submitted_by === user?.email || can("stop_others_work"));

  const items = executions.data?.items || [];
  usePoll(executions.reload, 2000, items.some((e) => ACTIVE.has(e.state)));
  const chosen = execution && /^\d+$/.test(execution) ? Number(execution) : offset === 0 ? items[0]?.id : undefined;

  const onStop = (e) =>
    stop.run(async () => {
      await api.post(`${jobUrl}/executions/${e.id}/stop`, {});
      executions.reload();
    });

  return (
    <>
      <p>
        <a href={`${home}/jobs`}>← All jobs</a>
      </p>
      <h2>Job {name}</h2>
      <Loaded state={job}>
        {(data) => (
          <>
            <Configuration job={data} />
            <RunForm
              job={data}
              onStarted={(e) => {
                setOffset(0);
                location.route(`${jobHref}/${e.id}`);
                executions.reload();
              }}
            />
          </>
        )}
      </Loaded>
      <section aria-labelledby="executions">
        <h3 id="executions">Executions</h3>
        <ErrorMessage error={stop.error} />
        <Loaded state={executions}>
          {(page) => (
            <Executions
              jobHref={jobHref}
              page={page}
              selected={chosen}
              mayStop={mayStop}
              onStop={onStop}
              stopping={stop.busy}
              offset={offset}
              setOffset={setOffset}
            />
          )}
        </Loaded>
      </section>
      {chosen && (
        <ExecutionLog
          jobUrl={jobUrl}
          executionId={chosen}
          onChange={executions.reload}
          mayStop={mayStop}
          onStop={onStop}
          stopping={stop.busy}
        />
      )}
    </>
  );
}
