// TODO(helper): the Jobs page
export function Jobs() {
  return <h2>Jobs</h2>;
}
