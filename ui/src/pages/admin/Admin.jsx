// TODO(helper): users, approvals, quotas
export function Admin() {
  return <h1>Administration</h1>;
}
