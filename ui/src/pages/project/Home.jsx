// TODO(helper): the Home page
export function Home() {
  return <h2>Home</h2>;
}
