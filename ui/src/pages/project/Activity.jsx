// TODO(helper): the Activity page
export function Activity() {
  return <h2>Activity</h2>;
}
