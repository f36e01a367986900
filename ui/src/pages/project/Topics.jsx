// TODO(helper): the Topics page
export function Topics() {
  return <h2>Topics</h2>;
}
