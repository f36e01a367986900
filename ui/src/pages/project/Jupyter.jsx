// TODO(helper): the Jupyter page
export function Jupyter() {
  return <h2>Jupyter</h2>;
}
