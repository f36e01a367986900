// Platform administration: accounts (approvals, deletions) and every project's quotas.
// The API refuses all of it to anyone but a platform admin; the page only says so first.
import { useRoute } from "preact-iso";
import { useSession } from "../../session.jsx";
import { Quotas } from "./Quotas.jsx";
import { Users } from "./Users.jsx";

const TABS = [
  ["users", "Users"],
  ["quotas", "Projects & quotas"],
];

export function Admin() {
  const { user } = useSession();
  const { params } = useRoute();
  const [tab = "users"] = (params.rest || "").split("/").filter(Boolean).map(decodeURIComponent);

  if (!user?.is_admin) {
    return (
      <>
        <h1>Administration</h1>
        <p role="alert" class="error-message">
          This page is for platform administrators only. Ask one if you need an account approved or a project's quota
          changed.
        </p>
      </>
    );
  }
  return (
    <>
      <h1>Administration</h1>
      <nav class="tabs" aria-label="Administration">
        <ul>
          {TABS.map(([slug, label]) => (
            <li key={slug}>
              <a href={`/admin/${slug}`} aria-current={tab === slug ? "page" : undefined}>
                {label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {tab === "quotas" ? <Quotas /> : tab === "users" ? <Users /> : <p>There is no such page here.</p>}
    </>
  );
}
