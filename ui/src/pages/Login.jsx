import { useLocation } from "preact-iso";
import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { useAction } from "../components/hooks.js";
import { ErrorMessage, Notice } from "../components/ui.jsx";
import { useSession } from "../session.jsx";

/** Only a path of this site: the sign-in page never sends anyone elsewhere. */
function safeNext(next) {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

export function Login() {
  const session = useSession();
  const location = useLocation();
  const action = useAction();
  const [policy, setPolicy] = useState(null);
  const next = safeNext(location.query.next);

  useEffect(() => {
    api.get("/api/auth/registration").then((r) => setPolicy(r.policy), () => setPolicy(null));
  }, []);
  useEffect(() => {
    if (session.user) location.route(next, true);
  }, [session.user]);

  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    action.run(() => session.signIn(form.get("email"), form.get("password")));
  };

  return (
    <article class="narrow">
      <h1>Sign in</h1>
      {location.query.expired && <Notice>Your session has ended. Please sign in again.</Notice>}
      {location.query.registered && <Notice>Your account was created. {location.query.registered === "pending" ? "A platform administrator must approve it before you can sign in." : "You can sign in now."}</Notice>}
      <form onSubmit={submit}>
        <label>
          Email
          <input name="email" type="email" autocomplete="username" required />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <ErrorMessage error={action.error} />
        <button type="submit" aria-busy={action.busy} disabled={action.busy}>
          Sign in
        </button>
      </form>
      {policy && policy !== "closed" && (
        <p>
          No account yet? <a href="/register">Register</a>
          {policy === "approval" && " (a platform administrator approves new accounts)"}.
        </p>
      )}
    </article>
  );
}
