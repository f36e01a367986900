// A project's activity feed (/p/{project}/activity): the audit records about it, newest
// first, a page at a time. Every change, data access and refusal is there.
import { useState } from "preact/hooks";
import { api } from "../../api.js";
import { useAction, useLoad } from "../../components/hooks.js";
import { useProject } from "../../components/project.jsx";
import { Empty, ErrorMessage, Loaded, Table, formatTime } from "../../components/ui.jsx";

const PAGE = 50;

// route names (the records' `action`) in words; others are shown as they are
const ACTIONS = {
  "project.create": "Created the project",
  "project.update": "Changed the project's description",
  "project.delete": "Deleted the project",
  "project.get": "Opened the project",
  "project.hive": "Read the Hive database",
  "project.activity": "Read the activity feed",
  "member.add": "Added a member",
  "member.change_role": "Changed a member's role",
  "member.remove": "Removed a member",
  "member.list": "Listed the members",
  "quota.get": "Read the quotas",
  "quota.set": "Changed the quotas",
  "dataset.create": "Created a dataset",
  "dataset.delete": "Deleted a dataset",
  "dataset.list": "Listed the datasets",
  "file.upload": "Uploaded a file",
  "file.read": "Downloaded a file",
  "file.head": "Looked at a file",
  "file.delete": "Deleted a file",
  "file.mkdir": "Made a directory",
  "share.offer": "Shared a dataset",
  "share.accept": "Accepted a shared dataset",
  "share.reject": "Declined a shared dataset",
  "share.unshare": "Stopped sharing a dataset",
  "topic.create": "Created a Kafka topic",
  "topic.delete": "Deleted a Kafka topic",
  "job.create": "Created a job",
  "job.update": "Changed a job",
  "job.delete": "Deleted a job",
  "execution.start": "Ran a job",
  "execution.stop": "Stopped a job run",
  "execution.log": "Read a job run's log",
  "jupyter.start": "Started a notebook server",
  "jupyter.stop": "Stopped a notebook server",
  "jupyter.stop_member": "Stopped a member's notebook server",
  "model.register": "Registered a model version",
  "model.delete": "Deleted a model version",
  "serving.create": "Created a serving",
  "serving.start": "Started a serving",
  "serving.stop": "Stopped a serving",
  "serving.delete": "Deleted a serving",
  "serving.predict": "Asked a serving for predictions",
  "environment.create": "Created a Python environment",
  "environment.rebuild": "Rebuilt a Python environment",
  "environment.delete": "Deleted a Python environment",
  "environment.lock": "Locked a Python environment",
  "credentials.read": "Read the project's credentials",
  "credentials.client": "Read the client credentials",
};

const OUTCOMES = { ok: "Done", denied: "Refused", rejected: "Rejected", error: "Failed" };

/** What a record was about, unless it is only the request's path in this project (then
 * the action says it all). */
function shownTarget(target, path) {
  if (!target || target === path || target.startsWith(`${path}/`) || target === "/api/projects") return null;
  return target;
}

/** The next page, minus what is already shown (new records push older ones down). */
function merge(items, page) {
  const seen = new Set(items.map((i) => i.id));
  return [...items, ...page.items.filter((i) => !seen.has(i.id))];
}

export function Activity() {
  const { path, project } = useProject();
  // `end`: how far into the feed the last page reached (records arrive at the top while
  // one reads, so the next page starts there and repeats are dropped)
  const [more, setMore] = useState({ items: [], total: 0, end: 0 });
  const first = useLoad(async () => {
    const page = await api.get(`${path}/activity`, { limit: PAGE, offset: 0 });
    setMore({ items: page.items, total: page.total, end: page.items.length });
    return page;
  }, [path]);
  const next = useAction();

  const loadMore = () =>
    next.run(async () => {
      const page = await api.get(`${path}/activity`, { limit: PAGE, offset: more.end });
      setMore((m) => ({ items: merge(m.items, page), total: page.total, end: page.offset + page.items.length }));
    });

  const hasMore = more.end < more.total;
  return (
    <>
      <h2>Activity</h2>
      <div class="actions">
        <button type="button" class="outline secondary" onClick={first.reload} aria-busy={first.loading} disabled={first.loading}>
          Refresh
        </button>
      </div>
      <Loaded state={first}>
        {() =>
          more.items.length === 0 ? (
            <Empty>Nothing has happened in this project yet.</Empty>
          ) : (
            <>
              <Table caption={`Activity in ${project.name}, newest first`}>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Who</th>
                    <th scope="col">What</th>
                    <th scope="col">Outcome</th>
                  </tr>
                </thead>
                <tbody>
                  {more.items.map((record) => (
                    <tr key={record.id}>
                      <td class="activity-when">
                        <time dateTime={record.ts}>{formatTime(record.ts)}</time>
                      </td>
                      <td>{record.actor}</td>
                      <td class="activity-what">
                        {ACTIONS[record.action] || record.action}
                        {shownTarget(record.target, path) && (
                          <>
                            {": "}
                            <span class="target">{record.target}</span>
                          </>
                        )}
                      </td>
                      <td class={`outcome-${record.outcome}`}>
                        {OUTCOMES[record.outcome] || record.outcome} <small>({record.status_code})</small>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </Table>
              <p role="status">
                Showing the newest {more.items.length} records{hasMore ? ` of ${more.total}` : ""}.
              </p>
            </>
          )
        }
      </Loaded>
      <ErrorMessage error={next.error} />
      {hasMore && !first.error && (
        <button type="button" class="outline" onClick={loadMore} aria-busy={next.busy} disabled={next.busy}>
          Load more
        </button>
      )}
    </>
  );
}
