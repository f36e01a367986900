// Executions' states and numbers in words (shared by the jobs pages).

export const ACTIVE = new Set(["INITIALIZING", "SUBMITTED", "RUNNING"]);

const STATES = {
  INITIALIZING: "Starting",
  SUBMITTED: "Submitted",
  RUNNING: "Running",
  FINISHED: "Finished",
  FAILED: "Failed",
  KILLED: "Stopped",
};

/** "Finished", "Failed (exit code 3)", "Running"... */
export function stateWords(execution) {
  if (!execution) return "Never run";
  const words = STATES[execution.state] || execution.state;
  if (execution.state === "FAILED" && execution.exit_code !== null && execution.exit_code !== undefined) {
    return `${words} (exit code ${execution.exit_code})`;
  }
  return words;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Arguments typed one per line; blank lines dropped. */
export const parseArgs = (text) =>
  text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
