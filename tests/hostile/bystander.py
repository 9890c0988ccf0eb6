"""A well-behaved client in a process of its own: Echo round trips until stdin closes, then its figures.

``python -m tests.hostile.bystander ws://127.0.0.1:PORT/boundshub`` prints ``ready`` once connected, ``rt`` after
each round trip and, when its stdin is closed, one JSON line: ``{"round_trips": n, "slowest": seconds}``. A
process of its own, so what it measures is the server's fairness to it, not the load of the process that attacks.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from websockets.sync.client import connect

RS = "\x1e"


def main(url: str) -> None:
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    slowest, round_trips = 0.0, 0
    with connect(url, open_timeout=10) as socket:
        socket.send('{"protocol":"json","version":1}' + RS)
        assert socket.recv(timeout=10).startswith("{}" + RS)
        print("ready", flush=True)
        while not stop.wait(0.02):
            started = time.perf_counter()
            socket.send('{"type":1,"invocationId":"e","target":"Echo","arguments":["still here"]}' + RS)
            while '"invocationId":"e"' not in socket.recv(timeout=10):
                pass  # a Ping
            slowest = max(slowest, time.perf_counter() - started)
            round_trips += 1
            print("rt", flush=True)
    print(json.dumps({"round_trips": round_trips, "slowest": slowest}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
