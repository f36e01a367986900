// The signed-in person's own account: who they are, their API keys, their password.
import { useLocation } from "preact-iso";
import { useState } from "preact/hooks";
import { all, api } from "../api.js";
import { useAction, useLoad } from "../components/hooks.js";
import { ConfirmButton, Empty, ErrorMessage, Loaded, Notice, Table, formatTime } from "../components/ui.jsx";
import { useSession } from "../session.jsx";

export function Account() {
  return (
    <>
      <h1>Your account</h1>
      <Profile />
      <ApiKeys />
      <PasswordChange />
    </>
  );
}

function Profile() {
  const me = useLoad(() => api.get("/api/users/me"));
  return (
    <section aria-labelledby="profile-heading">
      <h2 id="profile-heading">Profile</h2>
      <Loaded state={me}>
        {(user) => (
          <dl class="facts">
            <dt>Email</dt>
            <dd>{user.email}</dd>
            <dt>User name</dt>
            <dd>{user.username}</dd>
            <dt>Name</dt>
            <dd>{[user.first_name, user.last_name].filter(Boolean).join(" ") || "not given"}</dd>
            <dt>Platform role</dt>
            <dd>{user.is_admin ? "platform administrator" : "member"}</dd>
            <dt>Account since</dt>
            <dd>{formatTime(user.created_at)}</dd>
          </dl>
        )}
      </Loaded>
    </section>
  );
}

function NewKey({ created, onDone }) {
  const [copied, setCopied] = useState("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied("The key is copied to the clipboard.");
    } catch {
      setCopied("The browser did not allow copying: select the key and copy it yourself.");
    }
  };
  return (
    <article class="secret" aria-labelledby="new-key-heading">
      <h3 id="new-key-heading">API key {created.name} created</h3>
      <p role="alert" class="warning">
        Copy this key now: it will not be shown again. Only a fingerprint of it is kept, so nobody can show it to you later.
      </p>
      <label>
        Your new API key
        <input readOnly value={created.key} class="code" onFocus={(e) => e.currentTarget.select()} />
      </label>
      <div class="actions">
        <button type="button" onClick={copy}>
          Copy the key
        </button>
        <button type="button" class="secondary outline" onClick={onDone}>
          I have stored it
        </button>
      </div>
      {copied && <Notice>{copied}</Notice>}
      <p>
        Send it as <code>Authorization: ApiKey &lt;key&gt;</code> (the SDK and the REST API accept it).
      </p>
    </article>
  );
}

function ApiKeys() {
  const keys = useLoad(() => all("/api/auth/api-keys"));
  const create = useAction();
  const remove = useAction();
  const [created, setCreated] = useState(null);
  const [done, setDone] = useState("");

  const submit = (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const name = new FormData(form).get("name");
    create.run(async () => {
      setDone("");
      const key = await api.post("/api/auth/api-keys", { name });
      form.reset();
      setCreated(key);
      keys.reload();
    });
  };
  const deleteKey = (name) =>
    remove.run(async () => {
      await api.del(`/api/auth/api-keys/${encodeURIComponent(name)}`);
      if (created?.name === name) setCreated(null);
      setDone(`The API key ${name} was deleted; nothing can use it any more.`);
      keys.reload();
    });

  return (
    <section aria-labelledby="keys-heading">
      <h2 id="keys-heading">API keys</h2>
      <p>An API key lets a program (the SDK, a script) act as you, without your password.</p>
      {created && <NewKey created={created} onDone={() => setCreated(null)} />}
      {done && <Notice>{done}</Notice>}
      <ErrorMessage error={remove.error} />
      <Loaded state={keys}>
        {(items) =>
          items.length === 0 ? (
            <Empty>You have no API keys.</Empty>
          ) : (
            <Table caption="Your API keys">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Starts with</th>
                  <th scope="col">Created</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {items.map((k) => (
                  <tr key={k.name}>
                    <th scope="row">{k.name}</th>
                    <td>
                      <code>{k.prefix}</code>
                    </td>
                    <td>{formatTime(k.created_at)}</td>
                    <td>
                      <ConfirmButton
                        class="contrast"
                        disabled={remove.busy}
                        question={`Delete the API key ${k.name}? Programs using it stop working at once.`}
                        onConfirm={() => deleteKey(k.name)}
                      >
                        Delete<span class="visually-hidden"> {k.name}</span>
                      </ConfirmButton>
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
      <form onSubmit={submit}>
        <label>
          Key name
          <input name="name" required maxLength={64} aria-describedby="key-rule" />
          <small id="key-rule">Letters, digits, '.', '_' and '-', e.g. laptop-sdk.</small>
        </label>
        <ErrorMessage error={create.error} />
        <button type="submit" aria-busy={create.busy} disabled={create.busy}>
          Create API key
        </button>
      </form>
    </section>
  );
}

function PasswordChange() {
  const session = useSession();
  const location = useLocation();
  const change = useAction();
  const [mismatch, setMismatch] = useState("");
  const [changed, setChanged] = useState(false);

  const submit = (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.currentTarget));
    if (data.new_password !== data.repeat) {
      setMismatch("The new password and its repetition differ.");
      return;
    }
    setMismatch("");
    change.run(async () => {
      await api.post("/api/auth/password", {
        current_password: data.current_password,
        new_password: data.new_password,
      });
      setChanged(true);
    });
  };
  const signInAgain = async () => {
    try {
      await session.signOut(); // clears the cookies the change ended
    } finally {
      location.route("/login?next=%2Faccount", true);
    }
  };

  return (
    <section aria-labelledby="password-heading">
      <h2 id="password-heading">Password</h2>
      {changed ? (
        <>
          <Notice>
            Your password is changed. Every session of your account has ended, this one too: sign in again with the new
            password.
          </Notice>
          <button type="button" onClick={signInAgain}>
            Sign in again
          </button>
        </>
      ) : (
        <form onSubmit={submit}>
          <p>Changing it signs you out everywhere, here too, and ends your sessions on other devices.</p>
          <label>
            Current password
            <input name="current_password" type="password" required autoComplete="current-password" />
          </label>
          <label>
            New password
            <input name="new_password" type="password" required minLength={8} autoComplete="new-password" />
          </label>
          <label>
            Repeat the new password
            <input name="repeat" type="password" required minLength={8} autoComplete="new-password" />
          </label>
          <ErrorMessage error={mismatch || change.error} />
          <button type="submit" aria-busy={change.busy} disabled={change.busy}>
            Change password
          </button>
        </form>
      )}
    </section>
  );
}
