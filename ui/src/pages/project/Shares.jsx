// TODO(helper): the Shares page
export function Shares() {
  return <h2>Shares</h2>;
}
