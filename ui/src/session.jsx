// Who is signed in, for every page: the account from /api/users/me, sign in and out.
import { createContext } from "preact";
import { useContext, useEffect, useState } from "preact/hooks";
import { api, onSessionExpired } from "./api.js";

const SessionContext = createContext(null);

export function SessionProvider({ children }) {
  const [state, setState] = useState({ loading: true, user: null, expired: false });

  const load = async () => {
    try {
      const user = await api.get("/api/users/me");
      setState({ loading: false, user, expired: false });
    } catch {
      setState({ loading: false, user: null, expired: false });
    }
  };

  useEffect(() => {
    load();
    return onSessionExpired(() => setState((s) => ({ loading: false, user: null, expired: !!s.user })));
  }, []);

  const value = {
    ...state,
    async signIn(email, password) {
      await api.post("/api/auth/session", { email, password });
      await load();
    },
    async signOut() {
      try {
        await api.del("/api/auth/session");
      } finally {
        setState({ loading: false, user: null, expired: false });
      }
    },
    reload: load,
  };
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export const useSession = () => useContext(SessionContext);
