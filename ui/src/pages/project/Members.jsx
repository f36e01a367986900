// A project's members (/p/{project}/members): everyone sees who is in it and in which role;
// those who may manage members (data owners, platform administrators) add people, change
// roles and remove them. The service keeps at least one data owner and says so in words.
import { useState } from "preact/hooks";
import { all, api } from "../../api.js";
import { useAction, useLoad } from "../../components/hooks.js";
import { useProject } from "../../components/project.jsx";
import { ConfirmButton, Empty, ErrorMessage, Loaded, Notice, Table, formatTime } from "../../components/ui.jsx";
import { useSession } from "../../session.jsx";
import { ROLE_NAMES } from "./Home.jsx";

const ROLES = ["data_owner", "data_scientist"];
const roleName = (role) => ROLE_NAMES[role] || role;

export function Members() {
  const { project, path, can, reload: reloadProject } = useProject();
  const { user } = useSession();
  const members = useLoad(() => all(`${path}/members`), [path]);
  const change = useAction();
  const [message, setMessage] = useState(null);
  const manage = can("manage_members");
  const me = user?.email?.toLowerCase();

  const memberPath = (email) => `${path}/members/${encodeURIComponent(email)}`;

  const setRole = (member, role) => {
    setMessage(null);
    change.run(async () => {
      try {
        await api.put(memberPath(member.email), { role });
        setMessage(`${member.email} is now a ${roleName(role).toLowerCase()}.`);
        if (member.email === me) reloadProject();
      } finally {
        members.reload();
      }
    });
  };

  const remove = (member) => {
    setMessage(null);
    change.run(async () => {
      await api.del(memberPath(member.email));
      setMessage(`${member.email} is no longer a member of ${project.name}.`);
      members.reload();
    });
  };

  return (
    <>
      <h2>Members</h2>
      <Loaded state={members}>
        {(list) =>
          list.length === 0 ? (
            <Empty>This project has no members.</Empty>
          ) : (
            <Table caption={`Members of ${project.name}`}>
              <thead>
                <tr>
                  <th scope="col">Member</th>
                  <th scope="col">Role</th>
                  <th scope="col">Added</th>
                  {manage && (
                    <th scope="col">
                      <span class="visually-hidden">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {list.map((member) => (
                  <tr key={member.email}>
                    <th scope="row" class="member">
                      {member.email}
                      {member.email === me && " (you)"}
                    </th>
                    <td>
                      {manage ? (
                        <select
                          class="role-select"
                          aria-label={`Role of ${member.email}`}
                          value={member.role}
                          disabled={change.busy}
                          onChange={(event) => setRole(member, event.currentTarget.value)}
                        >
                          {ROLES.map((role) => (
                            <option key={role} value={role}>
                              {roleName(role)}
                            </option>
                          ))}
                        </select>
                      ) : (
                        roleName(member.role)
                      )}
                    </td>
                    <td>
                      <time dateTime={member.added_at}>{formatTime(member.added_at)}</time>
                    </td>
                    {manage && (
                      <td>
                        {member.email !== me && (
                          <ConfirmButton
                            class="outline secondary small"
                            aria-label={`Remove ${member.email}`}
                            question={`Remove ${member.email} from ${project.name}? They lose access to its data at once.`}
                            disabled={change.busy}
                            onConfirm={() => remove(member)}
                          >
                            Remove
                          </ConfirmButton>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
      <ErrorMessage error={change.error} />
      {message && <Notice>{message}</Notice>}
      {manage && (
        <AddMember
          onStart={() => {
            setMessage(null);
            change.clear();
          }}
          onAdded={(member) => {
            members.reload();
            setMessage(`${member.email} is now a ${roleName(member.role).toLowerCase()} of ${project.name}.`);
          }}
        />
      )}
    </>
  );
}

function AddMember({ onStart, onAdded }) {
  const { path } = useProject();
  const add = useAction();
  const [role, setRole] = useState("data_scientist");

  const submit = (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = Object.fromEntries(new FormData(form));
    onStart();
    add.run(async () => {
      const member = await api.post(`${path}/members`, { email: data.email.trim(), role });
      form.elements.email.value = "";
      setRole("data_scientist");
      onAdded(member);
    });
  };

  return (
    <section aria-labelledby="add-member">
      <h3 id="add-member">Add a member</h3>
      <form onSubmit={submit}>
        <div class="grid">
          <div>
            <label for="new-member-email">Email</label>
            <input id="new-member-email" name="email" type="email" required autoComplete="off" maxLength={254} aria-describedby="add-member-help" />
            <small id="add-member-help">The person needs an account on the platform first.</small>
          </div>
          <div>
            <label for="new-member-role">Role</label>
            <select id="new-member-role" name="role" value={role} onChange={(event) => setRole(event.currentTarget.value)}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {roleName(r)}
                </option>
              ))}
            </select>
          </div>
        </div>
        <ErrorMessage error={add.error} />
        <button type="submit" aria-busy={add.busy} disabled={add.busy}>
          Add member
        </button>
      </form>
    </section>
  );
}
