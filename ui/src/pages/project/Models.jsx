// The project's model registry: its models, a model's versions (metrics, files), deleting
// a version (data owners) and deploying one as a serving.
import { useLocation } from "preact-iso";
import { useState } from "preact/hooks";
import { all, api } from "../../api.js";
import { useAction, useLoad } from "../../components/hooks.js";
import { useProject } from "../../components/project.jsx";
import { ConfirmButton, Empty, ErrorMessage, Loaded, Notice, Table, formatBytes, formatTime } from "../../components/ui.jsx";

export function Models({ segments = [] }) {
  return segments[0] ? <ModelVersions model={segments[0]} /> : <ModelList />;
}

function ModelList() {
  const { path, home, can } = useProject();
  const models = useLoad(() => all(`${path}/models`), [path]);
  return (
    <>
      <h2>Models</h2>
      <p>
        A model version is a directory of the <a href={`${home}/datasets/Models`}>Models</a> dataset, registered with the
        SDK or the REST API; its files are checked against the registry whenever it is served.
      </p>
      <Loaded state={models}>
        {(items) =>
          items.length === 0 ? (
            <Empty>
              No models are registered in this project yet.
              {can("register_models") && " Upload a model's files into Models and register it from a notebook or job with the SDK."}
            </Empty>
          ) : (
            <Table caption="Registered models">
              <thead>
                <tr>
                  <th scope="col">Model</th>
                  <th scope="col">Latest version</th>
                  <th scope="col">Versions</th>
                </tr>
              </thead>
              <tbody>
                {items.map((m) => (
                  <tr key={m.name}>
                    <th scope="row">
                      <a href={`${home}/models/${encodeURIComponent(m.name)}`}>{m.name}</a>
                    </th>
                    <td>{m.latest_version}</td>
                    <td>{m.versions.length}</td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
    </>
  );
}

const totalSize = (files) => files.reduce((sum, f) => sum + f.size, 0);

/** A serving name from a model name: lower case, digits and '-', at most 40 characters. */
function servingName(model, version) {
  const base = model.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "") || "model";
  return `${base.slice(0, 34).replace(/-+$/, "")}-v${version}`.slice(0, 40);
}

function ModelVersions({ model }) {
  const { path, home, can } = useProject();
  const location = useLocation();
  const versions = useLoad(() => all(`${path}/models/${encodeURIComponent(model)}`), [path, model]);
  const remove = useAction();
  const deploy = useAction();
  const [deploying, setDeploying] = useState(null);
  const [done, setDone] = useState("");

  const deleteVersion = (version) =>
    remove.run(async () => {
      await api.del(`${path}/models/${encodeURIComponent(model)}/versions/${version}`);
      setDone(`Version ${version} of ${model} was deleted from the registry; its files stay in Models.`);
      versions.reload();
    });

  const submitDeploy = (event) => {
    event.preventDefault();
    const form = Object.fromEntries(new FormData(event.currentTarget));
    deploy.run(async () => {
      await api.post(`${path}/servings`, {
        name: form.name,
        model,
        version: deploying,
        instances: Number(form.instances || 1),
      });
      location.route(`${home}/servings`);
    });
  };

  return (
    <>
      <nav aria-label="breadcrumb">
        <ul>
          <li>
            <a href={`${home}/models`}>Models</a>
          </li>
          <li aria-current="page">{model}</li>
        </ul>
      </nav>
      <h2>Model {model}</h2>
      {done && <Notice>{done}</Notice>}
      <ErrorMessage error={remove.error} />
      <Loaded state={versions}>
        {(items) =>
          items.length === 0 ? (
            <Empty>This model has no versions left.</Empty>
          ) : (
            <Table caption={`Versions of ${model}`}>
              <thead>
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col">Framework</th>
                  <th scope="col">Registered</th>
                  <th scope="col">By</th>
                  <th scope="col">Metrics</th>
                  <th scope="col">Description</th>
                  <th scope="col">Files</th>
                  {(can("serve_models") || can("delete_model_versions")) && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {items.map((v) => (
                  <tr key={v.version}>
                    <th scope="row">{v.version}</th>
                    <td>{v.framework}</td>
                    <td>{formatTime(v.created_at)}</td>
                    <td>{v.registered_by ?? "a former member"}</td>
                    <td>
                      {Object.keys(v.metrics).length === 0 ? (
                        "none"
                      ) : (
                        <ul class="plain-list">
                          {Object.entries(v.metrics).map(([k, value]) => (
                            <li key={k}>
                              {k}: {value}
                            </li>
                          ))}
                        </ul>
                      )}
                    </td>
                    <td>{v.description || ""}</td>
                    <td>
                      <a href={`${home}/datasets/${v.path.split("/").map(encodeURIComponent).join("/")}`}>
                        {v.files.length} {v.files.length === 1 ? "file" : "files"}, {formatBytes(totalSize(v.files))}
                      </a>
                    </td>
                    {(can("serve_models") || can("delete_model_versions")) && (
                      <td>
                        <div class="actions">
                          {can("serve_models") && (
                            <button type="button" class="secondary" onClick={() => (deploy.clear(), setDeploying(v.version))}>
                              Deploy version {v.version}
                            </button>
                          )}
                          {can("delete_model_versions") && (
                            <ConfirmButton
                              class="contrast"
                              disabled={remove.busy}
                              question={`Delete version ${v.version} of ${model} from the registry? Its files stay in Models.`}
                              onConfirm={() => deleteVersion(v.version)}
                            >
                              Delete version {v.version}
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
      {deploying !== null && (
        <section aria-labelledby="deploy-heading">
          <h3 id="deploy-heading">
            Deploy {model} version {deploying}
          </h3>
          <form onSubmit={submitDeploy}>
            <div class="grid">
              <label>
                Serving name
                <input
                  name="name"
                  required
                  maxLength={40}
                  defaultValue={servingName(model, deploying)}
                  key={deploying}
                  aria-describedby="serving-name-rule"
                />
                <small id="serving-name-rule">Lower-case letters, digits and '-'; it becomes part of the prediction address.</small>
              </label>
              <label>
                Instances
                <input name="instances" type="number" min={1} max={16} defaultValue={1} />
              </label>
            </div>
            <ErrorMessage error={deploy.error} />
            <div class="actions">
              <button type="submit" aria-busy={deploy.busy} disabled={deploy.busy}>
                Create and start serving
              </button>
              <button type="button" class="secondary outline" onClick={() => setDeploying(null)}>
                Cancel
              </button>
            </div>
          </form>
        </section>
      )}
    </>
  );
}
