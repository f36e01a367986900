// TODO(helper): the Servings page
export function Servings() {
  return <h2>Servings</h2>;
}
