// The project's jobs: the list with each job's last execution, a form for a new job, and
// (at /jobs/<job>[/<execution>]) one job with its executions and live log.
import { useLocation } from "preact-iso";
import { useState } from "preact/hooks";
import { all, api } from "../../api.js";
import { useAction, useLoad, usePoll } from "../../components/hooks.js";
import { useProject } from "../../components/project.jsx";
import { ConfirmButton, Empty, ErrorMessage, Loaded, Notice, Table, formatTime } from "../../components/ui.jsx";
import { JobDetail } from "./jobs/JobDetail.jsx";
import { NewJob } from "./jobs/NewJob.jsx";
import { ACTIVE, stateWords } from "./jobs/words.js";

export function Jobs({ segments = [] }) {
  const { can } = useProject();
  if (!can("run_jobs")) {
    return (
      <>
        <h2>Jobs</h2>
        <Empty>Your role in this project does not run jobs; members (data owners and data scientists) do.</Empty>
      </>
    );
  }
  if (segments[0]) return <JobDetail job={segments[0]} execution={segments[1]} />;
  return <JobList />;
}

async function loadJobs(path) {
  const jobs = await all(`${path}/jobs`);
  // the newest execution of each job (a listing is newest first)
  const last = await Promise.all(
    jobs.map((job) =>
      api
        .get(`${path}/jobs/${encodeURIComponent(job.name)}/executions`, { limit: 1 })
        .then((page) => page.items[0] || null)
        .catch(() => null),
    ),
  );
  return jobs.map((job, i) => ({ ...job, last: last[i] }));
}

function JobList() {
  const { path, home } = useProject();
  const location = useLocation();
  const jobs = useLoad(() => loadJobs(path), [path]);
  const action = useAction();
  const [done, setDone] = useState("");
  // a running job's last execution changes on its own
  usePoll(jobs.reload, 3000, (jobs.data || []).some((job) => job.last && ACTIVE.has(job.last.state)));

  const run = (job) =>
    action.run(async () => {
      setDone("");
      const execution = await api.post(`${path}/jobs/${encodeURIComponent(job)}/executions`, {});
      location.route(`${home}/jobs/${encodeURIComponent(job)}/${execution.id}`);
    });
  const remove = (job) =>
    action.run(async () => {
      setDone("");
      await api.del(`${path}/jobs/${encodeURIComponent(job)}`);
      setDone(`Job ${job} deleted.`);
      jobs.reload();
    });

  return (
    <>
      <h2>Jobs</h2>
      {done && <Notice>{done}</Notice>}
      <ErrorMessage error={action.error} />
      <Loaded state={jobs}>
        {(rows) =>
          rows.length === 0 ? (
            <Empty>No jobs yet. Create one below from a program in one of the project's datasets.</Empty>
          ) : (
            <Table caption="Jobs">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Type</th>
                  <th scope="col">Last execution</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((job) => (
                  <tr key={job.name}>
                    <th scope="row">
                      <a href={`${home}/jobs/${encodeURIComponent(job.name)}`}>{job.name}</a>
                    </th>
                    <td>{job.type}</td>
                    <td>
                      {stateWords(job.last)}
                      {job.last && <small> · {formatTime(job.last.submitted_at)}</small>}
                    </td>
                    <td>
                      <div class="actions">
                        <button type="button" class="outline" disabled={action.busy} onClick={() => run(job.name)} aria-label={`Run ${job.name}`}>
                          Run
                        </button>
                        <ConfirmButton
                          class="outline secondary"
                          disabled={action.busy}
                          aria-label={`Delete ${job.name}`}
                          question={`Delete job ${job.name} and its executions?`}
                          onConfirm={() => remove(job.name)}
                        >
                          Delete
                        </ConfirmButton>
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
      <NewJob onCreated={(job) => location.route(`${home}/jobs/${encodeURIComponent(job.name)}`)} />
    </>
  );
}
