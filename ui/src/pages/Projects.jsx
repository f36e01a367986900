import { useLocation } from "preact-iso";
import { api } from "../api.js";
import { useAction, useLoad } from "../components/hooks.js";
import { Empty, ErrorMessage, Loaded, Table, formatTime } from "../components/ui.jsx";

export function Projects() {
  const location = useLocation();
  const projects = useLoad(() => api.get("/api/projects", { limit: 500 }));
  const create = useAction();

  const submit = (event) => {
    event.preventDefault();
    const form = Object.fromEntries(new FormData(event.currentTarget));
    create.run(async () => {
      const project = await api.post("/api/projects", form);
      location.route(`/p/${encodeURIComponent(project.name)}`);
    });
  };

  return (
    <>
      <h1>Projects</h1>
      <Loaded state={projects}>
        {(page) =>
          page.items.length === 0 ? (
            <Empty>You are not a member of any project yet. Create one below, or ask a data owner to add you.</Empty>
          ) : (
            <Table caption="Your projects">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Description</th>
                  <th scope="col">Your role</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((p) => (
                  <tr key={p.id}>
                    <td>
                      <a href={`/p/${encodeURIComponent(p.name)}`}>{p.name}</a>
                    </td>
                    <td>{p.description}</td>
                    <td>{p.role ?? "platform admin"}</td>
                    <td>{formatTime(p.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
      <section aria-labelledby="new-project">
        <h2 id="new-project">New project</h2>
        <form onSubmit={submit}>
          <div class="grid">
            <label>
              Name
              <input name="name" required maxLength={32} aria-describedby="project-name-rule" />
              <small id="project-name-rule">Lower-case letters, digits and single underscores, starting with a letter (it becomes part of certificate and database names).</small>
            </label>
            <label>
              Description
              <input name="description" />
            </label>
          </div>
          <ErrorMessage error={create.error} />
          <button type="submit" aria-busy={create.busy} disabled={create.busy}>
            Create project
          </button>
        </form>
      </section>
    </>
  );
}
