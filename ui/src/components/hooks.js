// Loading a resource for a page: its data, its error in words, and a way to load it again.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { describe } from "../api.js";

export function useLoad(load, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const current = useRef(0);
  const reload = useCallback(async () => {
    const ticket = ++current.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await load();
      if (ticket === current.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (ticket === current.current) setState({ data: null, error: describe(error), loading: false });
    }
  }, deps);
  useEffect(() => {
    reload();
  }, [reload]);
  return { ...state, reload };
}

/** Run an action from a button or form: busy while it runs, its error in words. */
export function useAction() {
  const [state, setState] = useState({ busy: false, error: null });
  const run = async (action) => {
    setState({ busy: true, error: null });
    try {
      const result = await action();
      setState({ busy: false, error: null });
      return result;
    } catch (error) {
      setState({ busy: false, error: describe(error) });
      return undefined;
    }
  };
  return { ...state, run, clear: () => setState({ busy: false, error: null }) };
}

/** Call `tick` every `ms` while `active` (live logs, states that change on their own). */
export function usePoll(tick, ms, active) {
  useEffect(() => {
    if (!active) return undefined;
    const timer = setInterval(tick, ms);
    return () => clearInterval(timer);
  }, [active, ms, tick]);
}
