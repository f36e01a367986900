import { useLocation } from "preact-iso";
import { api } from "../api.js";
import { useAction, useLoad } from "../components/hooks.js";
import { ErrorMessage, Loaded } from "../components/ui.jsx";

export function Register() {
  const location = useLocation();
  const policy = useLoad(() => api.get("/api/auth/registration"));
  const action = useAction();

  const submit = (event) => {
    event.preventDefault();
    const form = Object.fromEntries(new FormData(event.currentTarget));
    action.run(async () => {
      const user = await api.post("/api/auth/register", form);
      location.route(`/login?registered=${user.status}`);
    });
  };

  return (
    <article class="narrow">
      <h1>Register</h1>
      <Loaded state={policy}>
        {({ policy: mode }) =>
          mode === "closed" ? (
            <p>Registration is closed on this platform: a platform administrator creates accounts.</p>
          ) : (
            <form onSubmit={submit}>
              {mode === "approval" && <p>A platform administrator approves new accounts before they can sign in.</p>}
              <div class="grid">
                <label>
                  First name
                  <input name="first_name" autocomplete="given-name" required />
                </label>
                <label>
                  Last name
                  <input name="last_name" autocomplete="family-name" required />
                </label>
              </div>
              <label>
                Email
                <input name="email" type="email" autocomplete="email" required />
              </label>
              <label>
                Password
                <input name="password" type="password" autocomplete="new-password" minLength={8} required aria-describedby="password-rule" />
                <small id="password-rule">At least 8 characters.</small>
              </label>
              <ErrorMessage error={action.error} />
              <button type="submit" aria-busy={action.busy} disabled={action.busy}>
                Create account
              </button>
            </form>
          )
        }
      </Loaded>
      <p>
        Already registered? <a href="/login">Sign in</a>.
      </p>
    </article>
  );
}
