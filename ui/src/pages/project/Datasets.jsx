// TODO(helper): the Datasets page
export function Datasets() {
  return <h2>Datasets</h2>;
}
