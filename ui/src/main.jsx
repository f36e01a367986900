import { render } from "preact";
import { LocationProvider, Route, Router, useLocation } from "preact-iso";
import { useEffect } from "preact/hooks";
import "@picocss/pico/css/pico.min.css";
import "./styles.css";
import { Layout } from "./components/layout.jsx";
import { Loading } from "./components/ui.jsx";
import { Account } from "./pages/Account.jsx";
import { Admin } from "./pages/admin/Admin.jsx";
import { Login } from "./pages/Login.jsx";
import { NotFound } from "./pages/NotFound.jsx";
import { Projects } from "./pages/Projects.jsx";
import { ProjectPages } from "./pages/project/ProjectPages.jsx";
import { Register } from "./pages/Register.jsx";
import { SessionProvider, useSession } from "./session.jsx";

const PUBLIC = new Set(["/login", "/register"]);

/** Signed-out visitors of any other page go to the sign-in page, which brings them back. */
function Gate({ children }) {
  const session = useSession();
  const location = useLocation();
  const signedOut = !session.loading && !session.user && !PUBLIC.has(location.path);
  useEffect(() => {
    if (signedOut) {
      const next = encodeURIComponent(location.url);
      location.route(`/login?next=${next}${session.expired ? "&expired=1" : ""}`, true);
    }
  }, [signedOut]);
  if (session.loading || signedOut) return <Loading />;
  return children;
}

function App() {
  return (
    <LocationProvider>
      <SessionProvider>
        <Layout>
          <Gate>
            <Router>
              <Route path="/login" component={Login} />
              <Route path="/register" component={Register} />
              <Route path="/" component={Projects} />
              <Route path="/p/:project/:rest*" component={ProjectPages} />
              <Route path="/account" component={Account} />
              <Route path="/admin/:rest*" component={Admin} />
              <Route default component={NotFound} />
            </Router>
          </Gate>
        </Layout>
      </SessionProvider>
    </LocationProvider>
  );
}

render(<App />, document.getElementById("app"));
