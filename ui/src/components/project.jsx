// The project a page is about, and what the caller may do in it (the API's `allowed`
// list: the UI offers an action only where the service says the role allows it).
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import { api, ApiError } from "../api.js";
import { useLoad } from "./hooks.js";
import { ErrorMessage, Loading } from "./ui.jsx";

const ProjectContext = createContext(null);

async function findProject(ref) {
  if (!/^\d+$/.test(ref)) return api.get(`/api/projects/${encodeURIComponent(ref)}`);
  // /p/{id}: the address the SDK prints; project names never are all digits
  for (let offset = 0; ; offset += 500) {
    const page = await api.get("/api/projects", { limit: 500, offset });
    const found = page.items.find((p) => String(p.id) === ref);
    if (found) return found;
    if (offset + page.items.length >= page.total) throw new ApiError(404, "not_found", `project ${ref} not found`);
  }
}

/** Loads the project once for all its pages; they read it with `useProject()`. */
export function ProjectProvider({ reference, children }) {
  const state = useLoad(() => findProject(reference), [reference]);
  if (state.error) return <ErrorMessage error={state.error} />;
  if (!state.data) return <Loading what="Loading the project" />;
  const project = state.data;
  const value = {
    project,
    name: project.name,
    /** the API path of this project, e.g. `${path}/datasets` */
    path: `/api/projects/${encodeURIComponent(project.name)}`,
    /** the UI path of this project, e.g. `${home}/jobs` */
    home: `/p/${encodeURIComponent(project.name)}`,
    /** an action name of authz.Action in lower case, e.g. "download", "manage_members" */
    can: (action) => project.allowed.includes(action),
    reload: state.reload,
  };
  return <ProjectContext.Provider value={value}>{children}</ProjectContext.Provider>;
}

export const useProject = () => useContext(ProjectContext);
