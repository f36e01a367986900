// The project's datasets (its own and those shared with it) and, under
// /p/{project}/datasets/{dataset}/{path...}, the file browser of one of them.
import { all, api } from "../../api.js";
import { useAction, useLoad } from "../../components/hooks.js";
import { useProject } from "../../components/project.jsx";
import { ConfirmButton, Empty, ErrorMessage, Loaded, Notice, Table } from "../../components/ui.jsx";
import { Browser } from "./datasets/Browser.jsx";
import { useState } from "preact/hooks";

function sharing(dataset) {
  if (!dataset.shared) return "Own";
  return `Shared with us (${dataset.permission === "editable" ? "editable" : "read only"})`;
}

function NewDataset({ path, onCreated }) {
  const create = useAction();
  const submit = (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = Object.fromEntries(new FormData(form));
    create.run(async () => {
      await api.post(`${path}/datasets`, data);
      form.reset();
      onCreated(data.name);
    });
  };
  return (
    <section aria-labelledby="new-dataset">
      <h3 id="new-dataset">New dataset</h3>
      <form onSubmit={submit}>
        <div class="grid">
          <label>
            Dataset name
            <input name="name" required maxLength={128} />
          </label>
          <label>
            Description
            <input name="description" maxLength={2000} />
          </label>
        </div>
        <ErrorMessage error={create.error} />
        <button type="submit" aria-busy={create.busy} disabled={create.busy}>
          Create dataset
        </button>
      </form>
    </section>
  );
}

function DatasetList() {
  const { path, home, can } = useProject();
  const datasets = useLoad(() => all(`${path}/datasets`), [path]);
  const remove = useAction();
  const [message, setMessage] = useState("");
  const manage = can("manage_datasets");

  const removeDataset = (name) =>
    remove.run(async () => {
      await api.del(`${path}/datasets/${encodeURIComponent(name)}`);
      setMessage(`Deleted dataset ${name}.`);
      datasets.reload();
    });

  return (
    <>
      <h2>Datasets</h2>
      <Loaded state={datasets}>
        {(items) =>
          items.length === 0 ? (
            <Empty>This project has no datasets.</Empty>
          ) : (
            <Table caption="Datasets of this project">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Description</th>
                  <th scope="col">Sharing</th>
                  <th scope="col">You may upload</th>
                  {manage && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {items.map((d) => (
                  <tr key={d.name}>
                    <th scope="row">
                      <a href={`${home}/datasets/${encodeURIComponent(d.name)}`}>{d.name}</a>
                    </th>
                    <td>{d.description}</td>
                    <td>{sharing(d)}</td>
                    <td>{d.writable ? "yes" : "no"}</td>
                    {manage && (
                      <td class="ds-actions">
                        {!d.shared && (
                          <ConfirmButton
                            class="secondary outline"
                            question={`Delete dataset ${d.name} and every file in it?`}
                            onConfirm={() => removeDataset(d.name)}
                            disabled={remove.busy}
                          >
                            Delete<span class="visually-hidden"> dataset {d.name}</span>
                          </ConfirmButton>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
      <ErrorMessage error={remove.error} />
      {message && <Notice>{message}</Notice>}
      {manage && (
        <NewDataset
          path={path}
          onCreated={(name) => {
            setMessage(`Created dataset ${name}.`);
            datasets.reload();
          }}
        />
      )}
    </>
  );
}

export function Datasets({ segments = [] }) {
  return segments.length ? <Browser segments={segments} /> : <DatasetList />;
}
