// One folder of a dataset: where it is (breadcrumbs), its entries a page at a time,
// folders to open, files to download (for roles that may export), and, where the
// dataset is writable, new folders, deletion and uploads.
import { useEffect, useState } from "preact/hooks";
import { all, api, encodePath, request } from "../../../api.js";
import { useAction, useLoad } from "../../../components/hooks.js";
import { useProject } from "../../../components/project.jsx";
import { ConfirmButton, Empty, ErrorMessage, Loaded, Table, formatBytes, formatTime } from "../../../components/ui.jsx";
import { Upload, takeEndedUpload } from "./Upload.jsx";

const PAGE = 100;

function Breadcrumbs({ home, dataset, parts }) {
  const base = `${home}/datasets/${encodeURIComponent(dataset)}`;
  return (
    <nav aria-label="Breadcrumb" class="ds-breadcrumbs">
      <ol>
        <li>
          <a href={`${home}/datasets`}>Datasets</a>
        </li>
        <li>
          <a href={base} aria-current={parts.length === 0 ? "page" : undefined}>
            {dataset}
          </a>
        </li>
        {parts.map((part, index) => (
          <li key={index}>
            <a
              href={`${base}/${parts.slice(0, index + 1).map(encodeURIComponent).join("/")}`}
              aria-current={index === parts.length - 1 ? "page" : undefined}
            >
              {part}
            </a>
          </li>
        ))}
      </ol>
    </nav>
  );
}

/** A directory's page, or `{file}` when the address is a file (its bytes are not read). */
async function readFolder(url, offset) {
  const response = await request("GET", url, { query: { limit: PAGE, offset }, raw: true });
  if (response.headers.get("X-Hops-Entry-Type") === "file") {
    response.body?.cancel();
    return { file: true };
  }
  return response.json();
}

function NewFolder({ datasetUrl, folder, onMade }) {
  const make = useAction();
  const submit = (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const name = new FormData(form).get("folder").trim();
    make.run(async () => {
      await api.post(`${datasetUrl}/directories/${encodePath(folder ? `${folder}/${name}` : name)}`);
      form.reset();
      onMade(name);
    });
  };
  return (
    <form onSubmit={submit} class="ds-inline-form">
      <label>
        New folder name
        <input name="folder" required pattern="[^/]+" title="A name without /" />
      </label>
      <button type="submit" aria-busy={make.busy} disabled={make.busy}>
        Create folder
      </button>
      <ErrorMessage error={make.error} />
    </form>
  );
}

export function Browser({ segments }) {
  const { path, home, can } = useProject();
  const [dataset, ...parts] = segments;
  const folder = parts.join("/");
  const datasetUrl = `${path}/datasets/${encodeURIComponent(dataset)}`;
  const folderUrl = folder ? `${datasetUrl}/files/${encodePath(folder)}` : `${datasetUrl}/files`;
  const pageUrl = `${home}/datasets/${[dataset, ...parts].map(encodeURIComponent).join("/")}`;
  const [offset, setOffset] = useState(0);
  const [message, setMessage] = useState("");
  const [ended, setEnded] = useState(null);
  useEffect(() => {
    setOffset(0);
    setMessage("");
    setEnded(takeEndedUpload(pageUrl));
  }, [pageUrl]);

  const info = useLoad(() => all(`${path}/datasets`).then((items) => items.find((d) => d.name === dataset) || null), [path, dataset]);
  const listing = useLoad(() => readFolder(folderUrl, offset), [folderUrl, offset]);
  const remove = useAction();
  const writable = !!info.data?.writable;
  const download = can("download");

  const removeEntry = (entry) =>
    remove.run(async () => {
      await api.del(`${datasetUrl}/files/${encodePath(folder ? `${folder}/${entry.name}` : entry.name)}`);
      setMessage(`Deleted ${entry.name}.`);
      listing.reload();
    });

  return (
    <>
      <Breadcrumbs home={home} dataset={dataset} parts={parts} />
      <h2>{parts.length ? parts[parts.length - 1] : dataset}</h2>
      {info.data && (
        <p>
          {info.data.description}
          {info.data.shared && ` Shared with this project (${info.data.permission === "editable" ? "editable" : "read only"}).`}
          {!writable && " You may look at this dataset but not change it."}
        </p>
      )}
      {ended && <ErrorMessage error={ended} />}
      <Loaded state={listing}>
        {(page) =>
          page.file ? (
            <p>
              This is a file.{" "}
              {download && (
                <a href={folderUrl} download>
                  Download {parts[parts.length - 1]}
                </a>
              )}
            </p>
          ) : page.items.length === 0 ? (
            <Empty>This folder is empty.</Empty>
          ) : (
            <>
              <Table caption={`Contents of ${folder || dataset}`}>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Size</th>
                    <th scope="col">Modified</th>
                    {(download || writable) && <th scope="col">Actions</th>}
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((entry) => {
                    const entryPath = folder ? `${folder}/${entry.name}` : entry.name;
                    return (
                      <tr key={entry.name}>
                        <th scope="row" class="ds-entry">
                          {entry.type === "dir" ? (
                            <a href={`${pageUrl}/${encodeURIComponent(entry.name)}`}>
                              {entry.name}
                              <span aria-hidden="true">/</span>
                              <span class="visually-hidden"> (folder)</span>
                            </a>
                          ) : (
                            entry.name
                          )}
                        </th>
                        <td>{entry.type === "dir" ? "—" : formatBytes(entry.size)}</td>
                        <td>{formatTime(entry.modified)}</td>
                        {(download || writable) && (
                          <td class="ds-actions">
                            {download && entry.type === "file" && (
                              <a href={`${datasetUrl}/files/${encodePath(entryPath)}`} download={entry.name} class="download">
                                Download<span class="visually-hidden"> {entry.name}</span>
                              </a>
                            )}
                            {writable && (
                              <ConfirmButton
                                class="secondary outline"
                                question={`Delete ${entry.name}${entry.type === "dir" ? " and everything in it" : ""}?`}
                                onConfirm={() => removeEntry(entry)}
                                disabled={remove.busy}
                              >
                                Delete<span class="visually-hidden"> {entry.name}</span>
                              </ConfirmButton>
                            )}
                          </td>
                        )}
                      </tr>
                    );
                  })}
                </tbody>
              </Table>
              {page.total > PAGE && (
                <nav aria-label="Pages of this folder" class="ds-pager">
                  <button type="button" class="secondary" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
                    Previous
                  </button>
                  <span>
                    {offset + 1}–{offset + page.items.length} of {page.total}
                  </span>
                  <button type="button" class="secondary" disabled={offset + PAGE >= page.total} onClick={() => setOffset(offset + PAGE)}>
                    Next
                  </button>
                </nav>
              )}
            </>
          )
        }
      </Loaded>
      <ErrorMessage error={remove.error} />
      <p role="status" class="notice">
        {message}
      </p>
      {writable && !listing.data?.file && (
        <>
          <NewFolder
            datasetUrl={datasetUrl}
            folder={folder}
            onMade={(name) => {
              setMessage(`Created folder ${name}.`);
              listing.reload();
            }}
          />
          <Upload datasetUrl={datasetUrl} folder={folder} pageUrl={pageUrl} onUploaded={listing.reload} />
        </>
      )}
      {info.data === null && !info.loading && !info.error && <ErrorMessage error={`There is no dataset ${dataset} in this project.`} />}
    </>
  );
}
