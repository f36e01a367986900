// The project's Kafka topics (the broker holds them as `<project>.<topic>`): the list for
// every member, creation and deletion for those who manage the project's datasets.
import { useState } from "preact/hooks";
import { all, api } from "../../api.js";
import { useAction, useLoad } from "../../components/hooks.js";
import { useProject } from "../../components/project.jsx";
import { ConfirmButton, Empty, ErrorMessage, Loaded, Notice, Table, formatTime } from "../../components/ui.jsx";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,200}$/;

function NewTopic({ onCreated, onAttempt }) {
  const { path } = useProject();
  const create = useAction();
  const [problem, setProblem] = useState(null);
  const submit = (event) => {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    const name = form.get("name").trim();
    if (!NAME.test(name)) {
      setProblem(
        "A topic name is 1 to 201 letters, digits, underscores or hyphens, and starts with a letter or digit.",
      );
      return;
    }
    setProblem(null);
    onAttempt();
    const body = { name, partitions: Number(form.get("partitions")), replication: Number(form.get("replication")) };
    create.run(async () => {
      const topic = await api.post(`${path}/topics`, body);
      formElement.reset();
      onCreated(topic);
    });
  };
  return (
    <section aria-labelledby="new-topic">
      <h3 id="new-topic">New topic</h3>
      <form onSubmit={submit} noValidate>
        <div class="grid">
          <label>
            Topic name
            <input name="name" required maxLength={201} aria-describedby="topic-name-rule" aria-invalid={problem ? "true" : undefined} />
            <small id="topic-name-rule">Letters, digits, _ and -, starting with a letter or digit.</small>
          </label>
          <label>
            Partitions
            <input name="partitions" type="number" min={1} max={1000} defaultValue={1} required />
          </label>
          <label>
            Replication factor
            <input name="replication" type="number" min={1} max={10} defaultValue={1} required />
          </label>
        </div>
        <ErrorMessage error={problem || create.error} />
        <button type="submit" aria-busy={create.busy} disabled={create.busy}>
          Create topic
        </button>
      </form>
    </section>
  );
}

export function Topics() {
  const { path, name, can } = useProject();
  const topics = useLoad(() => all(`${path}/topics`), [path]);
  const remove = useAction();
  const [done, setDone] = useState("");
  const manage = can("manage_datasets");

  const deleteTopic = (topic) =>
    remove.run(async () => {
      setDone("");
      await api.del(`${path}/topics/${encodeURIComponent(topic)}`);
      setDone(`Topic ${topic} deleted.`);
      topics.reload();
    });

  return (
    <>
      <h2>Kafka topics</h2>
      {done && <Notice>{done}</Notice>}
      <ErrorMessage error={remove.error} />
      <Loaded state={topics}>
        {(rows) =>
          rows.length === 0 ? (
            <Empty>This project has no Kafka topics yet.</Empty>
          ) : (
            <Table caption="Kafka topics">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Name on the broker</th>
                  <th scope="col">Partitions</th>
                  <th scope="col">Replication</th>
                  <th scope="col">Created</th>
                  {manage && (
                    <th scope="col">Actions</th>
                  )}
                </tr>
              </thead>
              <tbody>
                {rows.map((t) => (
                  <tr key={t.name}>
                    <th scope="row">{t.name}</th>
                    <td>
                      <code>
                        {name}.{t.name}
                      </code>
                    </td>
                    <td>{t.partitions}</td>
                    <td>{t.replication}</td>
                    <td>{formatTime(t.created_at)}</td>
                    {manage && (
                      <td>
                        <ConfirmButton
                          class="outline secondary"
                          aria-label={`Delete topic ${t.name}`}
                          disabled={remove.busy}
                          question={`Delete topic ${t.name}? Its messages are lost, and projects it is shared with lose it.`}
                          onConfirm={() => deleteTopic(t.name)}
                        >
                          Delete
                        </ConfirmButton>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
      {manage ? (
        <NewTopic
          onAttempt={() => setDone("")}
          onCreated={(topic) => {
            setDone(`Topic ${topic.name} created.`);
            topics.reload();
          }}
        />
      ) : (
        <p>
          <small>Data owners create and delete the project's topics.</small>
        </p>
      )}
    </>
  );
}
