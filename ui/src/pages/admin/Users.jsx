// Every account of the platform: those waiting for approval first.
import { useState } from "preact/hooks";
import { all, api } from "../../api.js";
import { useAction, useLoad } from "../../components/hooks.js";
import { ConfirmButton, Empty, ErrorMessage, Loaded, Notice, Table, formatTime } from "../../components/ui.jsx";
import { useSession } from "../../session.jsx";

const pendingFirst = (a, b) => (a.status === b.status ? a.email.localeCompare(b.email) : a.status === "pending" ? -1 : 1);

export function Users() {
  const { user: me } = useSession();
  const users = useLoad(async () => (await all("/api/users")).sort(pendingFirst));
  const act = useAction();
  const [done, setDone] = useState("");

  const run = (message, action) =>
    act.run(async () => {
      setDone("");
      await action();
      setDone(message);
      users.reload();
    });
  const at = (email) => `/api/users/${encodeURIComponent(email)}`;

  return (
    <section aria-labelledby="users-heading">
      <h2 id="users-heading">Users</h2>
      {done && <Notice>{done}</Notice>}
      <ErrorMessage error={act.error} />
      <Loaded state={users}>
        {(items) => {
          const pending = items.filter((u) => u.status === "pending").length;
          return items.length === 0 ? (
            <Empty>No accounts.</Empty>
          ) : (
            <>
              <p>
                {items.length} {items.length === 1 ? "account" : "accounts"}
                {pending > 0 ? `, ${pending} waiting for approval` : ""}.
              </p>
              <Table caption="Accounts">
                <thead>
                  <tr>
                    <th scope="col">Email</th>
                    <th scope="col">Name</th>
                    <th scope="col">Status</th>
                    <th scope="col">Platform admin</th>
                    <th scope="col">Registered</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((u) => (
                    <tr key={u.email}>
                      <th scope="row">{u.email}</th>
                      <td>{[u.first_name, u.last_name].filter(Boolean).join(" ") || u.username}</td>
                      <td>{u.status === "pending" ? <strong>waiting for approval</strong> : "active"}</td>
                      <td>{u.is_admin ? "yes" : "no"}</td>
                      <td>{formatTime(u.created_at)}</td>
                      <td>
                        <div class="actions">
                          {u.status === "pending" && (
                            <button type="button" disabled={act.busy} onClick={() => run(`${u.email} may sign in now.`, () => api.post(`${at(u.email)}/approve`))}>
                              Approve<span class="visually-hidden"> {u.email}</span>
                            </button>
                          )}
                          {u.email !== me?.email && (
                            <ConfirmButton
                              class="contrast"
                              disabled={act.busy}
                              question={`Delete the account ${u.email}? Its memberships, API keys and certificates end; this cannot be undone.`}
                              onConfirm={() => run(`The account ${u.email} was deleted.`, () => api.del(at(u.email)))}
                            >
                              Delete<span class="visually-hidden"> {u.email}</span>
                            </ConfirmButton>
                          )}
                        </div>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            </>
          );
        }}
      </Loaded>
    </section>
  );
}
