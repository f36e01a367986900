// A project's pages under /p/{project}: one tab per part of the work, each a module.
import { useLocation, useRoute } from "preact-iso";
import { ProjectProvider, useProject } from "../../components/project.jsx";
import { NotFound } from "../NotFound.jsx";
import { Activity } from "./Activity.jsx";
import { Datasets } from "./Datasets.jsx";
import { Home } from "./Home.jsx";
import { Jobs } from "./Jobs.jsx";
import { Jupyter } from "./Jupyter.jsx";
import { Members } from "./Members.jsx";
import { Models } from "./Models.jsx";
import { Servings } from "./Servings.jsx";
import { Shares } from "./Shares.jsx";
import { Topics } from "./Topics.jsx";

const TABS = [
  ["", "Overview"],
  ["/members", "Members"],
  ["/datasets", "Datasets"],
  ["/shares", "Shares"],
  ["/topics", "Kafka topics"],
  ["/jobs", "Jobs"],
  ["/jupyter", "Jupyter"],
  ["/models", "Models"],
  ["/servings", "Servings"],
  ["/activity", "Activity"],
];

function Tabs() {
  const { home, name } = useProject();
  const { path } = useLocation();
  return (
    <nav aria-label={`Project ${name}`} class="tabs">
      <ul>
        {TABS.map(([suffix, label]) => {
          const href = `${home}${suffix}`;
          const current = suffix === "" ? path === href : path === href || path.startsWith(`${href}/`);
          return (
            <li key={suffix}>
              <a href={href} aria-current={current ? "page" : undefined}>
                {label}
              </a>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

function Title() {
  const { project } = useProject();
  return (
    <hgroup>
      <h1>{project.name}</h1>
      <p>
        {project.role ? `You are a ${project.role.replace("_", " ")}` : "You administer this project"}
      </p>
    </hgroup>
  );
}

// the first segment after /p/{project} picks the page; the rest is the page's own
// (a dataset and a path in it, a job, a model), decoded, passed as `segments`
const PAGES = {
  "": Home,
  members: Members,
  datasets: Datasets,
  shares: Shares,
  topics: Topics,
  jobs: Jobs,
  jupyter: Jupyter,
  models: Models,
  servings: Servings,
  activity: Activity,
};

export function ProjectPages() {
  const { params } = useRoute();
  const [tab = "", ...segments] = (params.rest || "").split("/").filter(Boolean).map(decodeURIComponent);
  const Page = PAGES[tab];
  return (
    <ProjectProvider reference={decodeURIComponent(params.project)}>
      <Title />
      <Tabs />
      {Page ? <Page segments={segments} /> : <NotFound />}
    </ProjectProvider>
  );
}
