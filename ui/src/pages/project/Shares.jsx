// Sharing: the offers this project made of its datasets (and their ending), and what
// other projects offered it: datasets, Kafka topics and Hive databases, to accept or reject.
import { useState } from "preact/hooks";
import { all, api } from "../../api.js";
import { useAction, useLoad } from "../../components/hooks.js";
import { useProject } from "../../components/project.jsx";
import { ConfirmButton, Empty, ErrorMessage, Loaded, Notice, Table, formatTime } from "../../components/ui.jsx";

const PERMISSION = { read_only: "read only", editable: "editable" };
const STATUS = { pending: "offered, not accepted yet", accepted: "accepted" };

async function loadOutgoing(path) {
  const own = (await all(`${path}/datasets`)).filter((d) => !d.shared);
  const shares = await Promise.all(own.map((d) => all(`${path}/datasets/${encodeURIComponent(d.name)}/shares`)));
  return { datasets: own.map((d) => d.name), shares: shares.flat() };
}

function Offer({ path, datasets, onOffered }) {
  const offer = useAction();
  const submit = (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = Object.fromEntries(new FormData(form));
    offer.run(async () => {
      await api.post(`${path}/datasets/${encodeURIComponent(data.dataset)}/shares`, {
        project: data.project.trim(),
        permission: data.permission,
      });
      form.reset();
      onOffered(`Offered ${data.dataset} to project ${data.project.trim()}.`);
    });
  };
  return (
    <form onSubmit={submit}>
      <h4>Offer a dataset to another project</h4>
      <div class="grid">
        <label>
          Dataset to share
          <select name="dataset" required>
            {datasets.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Target project name
          <input name="project" required maxLength={63} />
        </label>
        <label>
          Permission
          <select name="permission">
            <option value="read_only">Read only</option>
            <option value="editable">Editable (its members may upload and delete)</option>
          </select>
        </label>
      </div>
      <ErrorMessage error={offer.error} />
      <button type="submit" aria-busy={offer.busy} disabled={offer.busy}>
        Offer share
      </button>
    </form>
  );
}

function Outgoing() {
  const { path, can } = useProject();
  const state = useLoad(() => loadOutgoing(path), [path]);
  const end = useAction();
  const [message, setMessage] = useState("");
  const share = can("share");
  const done = (text) => {
    setMessage(text);
    state.reload();
  };
  return (
    <section aria-labelledby="shared-by">
      <h3 id="shared-by">Shared by this project</h3>
      <Loaded state={state}>
        {({ datasets, shares }) => (
          <>
            {shares.length === 0 ? (
              <Empty>No dataset of this project is shared.</Empty>
            ) : (
              <Table caption="Datasets this project shares">
                <thead>
                  <tr>
                    <th scope="col">Dataset</th>
                    <th scope="col">With project</th>
                    <th scope="col">Permission</th>
                    <th scope="col">Status</th>
                    <th scope="col">Since</th>
                    {share && <th scope="col">Actions</th>}
                  </tr>
                </thead>
                <tbody>
                  {shares.map((s) => (
                    <tr key={`${s.dataset}/${s.project}`}>
                      <th scope="row">{s.dataset}</th>
                      <td>{s.project}</td>
                      <td>{PERMISSION[s.permission] ?? s.permission}</td>
                      <td>{STATUS[s.status] ?? s.status}</td>
                      <td>{formatTime(s.created_at)}</td>
                      {share && (
                        <td class="ds-actions">
                          <ConfirmButton
                            class="secondary outline"
                            question={`Stop sharing ${s.dataset} with ${s.project}?`}
                            disabled={end.busy}
                            onConfirm={() =>
                              end.run(async () => {
                                await api.del(`${path}/datasets/${encodeURIComponent(s.dataset)}/shares/${encodeURIComponent(s.project)}`);
                                done(`Stopped sharing ${s.dataset} with ${s.project}.`);
                              })
                            }
                          >
                            Unshare<span class="visually-hidden"> {s.dataset} with {s.project}</span>
                          </ConfirmButton>
                        </td>
                      )}
                    </tr>
                  ))}
                </tbody>
              </Table>
            )}
            <ErrorMessage error={end.error} />
            {message && <Notice>{message}</Notice>}
            {share && datasets.length > 0 && <Offer path={path} datasets={datasets} onOffered={done} />}
          </>
        )}
      </Loaded>
    </section>
  );
}

/** One kind of incoming share: its rows, with Accept/Reject on the offers still pending. */
function IncomingTable({ caption, rows, share, columns, name, onRespond, busy }) {
  return (
    <Table caption={caption}>
      <thead>
        <tr>
          {columns.map(([label]) => (
            <th scope="col" key={label}>
              {label}
            </th>
          ))}
          <th scope="col">Permission</th>
          <th scope="col">Status</th>
          {share && <th scope="col">Actions</th>}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => {
          const [first, ...rest] = columns.map(([, value]) => value(row));
          const label = name(row);
          return (
            <tr key={label}>
              <th scope="row">{first}</th>
              {rest.map((value, index) => (
                <td key={index}>{value}</td>
              ))}
              <td>{PERMISSION[row.permission] ?? row.permission}</td>
              <td>{STATUS[row.status] ?? row.status}</td>
              {share && (
                <td class="ds-actions">
                  {row.status === "pending" && (
                    <>
                      <button type="button" disabled={busy} onClick={() => onRespond(row, true)}>
                        Accept<span class="visually-hidden"> {label}</span>
                      </button>
                      <button type="button" class="secondary outline" disabled={busy} onClick={() => onRespond(row, false)}>
                        Reject<span class="visually-hidden"> {label}</span>
                      </button>
                    </>
                  )}
                </td>
              )}
            </tr>
          );
        })}
      </tbody>
    </Table>
  );
}

function Incoming() {
  const { path, home, can } = useProject();
  const state = useLoad(
    () =>
      Promise.all([
        all(`${path}/shared`),
        all(`${path}/shared/topics`).catch(() => []),
        all(`${path}/shared/hive`).catch(() => []),
      ]).then(([datasets, topics, hive]) => ({ datasets, topics, hive })),
    [path],
  );
  const respond = useAction();
  const [message, setMessage] = useState("");
  const share = can("share");

  const answer = (url, what, accept) =>
    respond.run(async () => {
      await api.post(`${url}/${accept ? "accept" : "reject"}`);
      setMessage(`${accept ? "Accepted" : "Rejected"} ${what}.`);
      state.reload();
    });

  return (
    <section aria-labelledby="shared-with">
      <h3 id="shared-with">Shared with this project</h3>
      <Loaded state={state}>
        {({ datasets, topics, hive }) => (
          <>
            <h4>Datasets</h4>
            {datasets.length === 0 ? (
              <Empty>No project has offered a dataset to this one.</Empty>
            ) : (
              <IncomingTable
                caption="Datasets offered to this project"
                rows={datasets}
                name={(s) => `${s.dataset} of ${s.owner_project}`}
                share={share}
                busy={respond.busy}
                columns={[
                  [
                    "Dataset",
                    (s) =>
                      s.status === "accepted" ? (
                        <a href={`${home}/datasets/${encodeURIComponent(`${s.owner_project}::${s.dataset}`)}`}>{s.dataset}</a>
                      ) : (
                        s.dataset
                      ),
                  ],
                  ["From project", (s) => s.owner_project],
                ]}
                onRespond={(s, accept) =>
                  answer(`${path}/shared/${encodeURIComponent(`${s.owner_project}::${s.dataset}`)}`, `${s.dataset} of ${s.owner_project}`, accept)
                }
              />
            )}
            {topics.length > 0 && (
              <>
                <h4>Kafka topics</h4>
                <IncomingTable
                  caption="Kafka topics offered to this project"
                  rows={topics}
                  name={(s) => `topic ${s.resource} of ${s.owner_project}`}
                  share={share}
                  busy={respond.busy}
                  columns={[
                    ["Topic", (s) => s.resource],
                    ["From project", (s) => s.owner_project],
                  ]}
                  onRespond={(s, accept) =>
                    answer(`${path}/shared/topics/${encodeURIComponent(`${s.owner_project}::${s.resource}`)}`, `topic ${s.resource} of ${s.owner_project}`, accept)
                  }
                />
              </>
            )}
            {hive.length > 0 && (
              <>
                <h4>Hive databases</h4>
                <IncomingTable
                  caption="Hive databases offered to this project"
                  rows={hive}
                  name={(s) => `Hive database of ${s.owner_project}`}
                  share={share}
                  busy={respond.busy}
                  columns={[["From project", (s) => s.owner_project]]}
                  onRespond={(s, accept) =>
                    answer(`${path}/shared/hive/${encodeURIComponent(s.owner_project)}`, `the Hive database of ${s.owner_project}`, accept)
                  }
                />
              </>
            )}
            <ErrorMessage error={respond.error} />
            {message && <Notice>{message}</Notice>}
          </>
        )}
      </Loaded>
    </section>
  );
}

export function Shares() {
  return (
    <>
      <h2>Shares</h2>
      <Outgoing />
      <Incoming />
    </>
  );
}
