// TODO(helper): the Models page
export function Models() {
  return <h2>Models</h2>;
}
