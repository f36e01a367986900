// TODO(helper): the Members page
export function Members() {
  return <h2>Members</h2>;
}
