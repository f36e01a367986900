// The frame of every page: a skip link, the header with the main navigation, the content.
import { useLocation } from "preact-iso";
import { useSession } from "../session.jsx";

export function Layout({ children }) {
  const session = useSession();
  const { path } = useLocation();
  const user = session.user;
  const current = (prefix) => (path === prefix || path.startsWith(`${prefix}/`) ? "page" : undefined);
  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="container">
        <nav aria-label="Main">
          <ul>
            <li>
              <a href="/" class="brand">
                <strong>Hopsworks</strong>
              </a>
            </li>
          </ul>
          {user && (
            <ul>
              <li>
                <a href="/" aria-current={path === "/" || current("/p") ? "page" : undefined}>
                  Projects
                </a>
              </li>
              {user.is_admin && (
                <li>
                  <a href="/admin" aria-current={current("/admin")}>
                    Administration
                  </a>
                </li>
              )}
              <li>
                <a href="/account" aria-current={current("/account")}>
                  {user.username}
                </a>
              </li>
              <li>
                <button type="button" class="outline secondary" onClick={() => session.signOut()}>
                  Sign out
                </button>
              </li>
            </ul>
          )}
        </nav>
      </header>
      <main id="main" class="container" tabIndex={-1}>
        {children}
      </main>
      <footer class="container">
        <small>
          <a href="/api/docs">REST API</a>
        </small>
      </footer>
    </>
  );
}
