// Every project of the platform, each with the way to its quotas: the project's overview,
// where a platform admin sees usage and limits and changes them (one quota form, there).
import { all } from "../../api.js";
import { useLoad } from "../../components/hooks.js";
import { Empty, Loaded, Table, formatTime } from "../../components/ui.jsx";

export function Quotas() {
  const projects = useLoad(() => all("/api/projects"));
  return (
    <section aria-labelledby="quotas-heading">
      <h2 id="quotas-heading">Projects &amp; quotas</h2>
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
                      <a href={`/p/${encodeURIComponent(p.name)}#project-quotas`}>Quotas of {p.name}</a>
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
