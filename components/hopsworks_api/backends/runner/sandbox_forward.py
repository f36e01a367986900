"""The sandbox's half of its network: started (`python -I -S`) as the sandbox's first
program, it listens on `127.0.0.N:port` for every platform service the run may reach, then
starts the real program; each connection is relayed to the unix socket the service's half
listens on (bind-mounted in), which connects to the service itself (`forward`).

Listening before the program starts means a program never finds its service missing. The
program's exit status and the signals sent to this process are passed on, so the run ends
as the program does. It imports only built-in modules (`_socket`, `_thread`, `_signal`,
`os`): `socket`, `json` and `signal` pull in `enum`, `re` and `selectors`, which would add
tens of milliseconds to every run's start.

The service's half imports `relay` from here, so both halves copy bytes the same way.
"""

from __future__ import annotations

import _signal
import _socket
import _thread
import os
import sys

BUFFER = 65536
SHUT_WR = 1


def _pipe(source: _socket.socket, target: _socket.socket, done: _thread.LockType) -> None:
    """Copy one direction until its end, then half-close the other side's writing."""
    try:
        while data := source.recv(BUFFER):
            target.sendall(data)
    except OSError:
        pass
    finally:
        try:  # noqa: SIM105 - contextlib would be one more import at every start
            target.shutdown(SHUT_WR)
        except OSError:
            pass
        done.release()


def relay(a: _socket.socket, b: _socket.socket) -> None:
    """Both directions, one thread each (no head-of-line blocking), until both ended."""
    other_done = _thread.allocate_lock()
    other_done.acquire()
    _thread.start_new_thread(_pipe, (b, a, other_done))
    mine = _thread.allocate_lock()
    mine.acquire()
    try:
        _pipe(a, b, mine)
        other_done.acquire()
    finally:
        a.close()
        b.close()


def _connect(client: _socket.socket, path: str) -> None:
    upstream = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        upstream.connect(path)
    except OSError:
        client.close()
        upstream.close()
        return
    relay(client, upstream)


def _serve(listener: _socket.socket, path: str) -> None:
    while True:
        try:
            fd, _address = listener._accept()
        except OSError:
            return
        client = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM, 0, fd)
        _thread.start_new_thread(_connect, (client, path))


def main(argv: list[str]) -> int:
    """argv: ROUTES -- PROGRAM [ARGS...]; ROUTES has a line `address port socket` each."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: sandbox_forward.py ROUTES -- PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    program = argv[2:]
    with open(argv[0]) as handle:
        routes = [line.split(" ", 2) for line in handle.read().splitlines() if line]
    listeners = []
    for address, port, path in routes:
        listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        listener.bind((address, int(port)))
        listener.listen(64)
        listeners.append((listener, path))
    child = os.fork()  # single-threaded here: no thread's lock is copied held
    if child == 0:
        for listener, _ in listeners:
            listener.close()
        try:
            os.execvp(program[0], program)  # noqa: S606 - the run's own program
        except OSError as exc:
            print(f"{program[0]}: {exc}", file=sys.stderr)
        os._exit(127)
    for number in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
        _signal.signal(number, lambda n, _frame: os.kill(child, n))
    for listener, path in listeners:
        _thread.start_new_thread(_serve, (listener, path))
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):  # end the same way (bwrap reports it as the program's end)
        number = os.WTERMSIG(status)
        try:  # noqa: SIM105 - (as above) SIGKILL has no handler to reset
            _signal.signal(number, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), number)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
