// TODO(helper): API keys, password change
export function Account() {
  return <h1>Your account</h1>;
}
