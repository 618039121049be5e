# tries: connect to a service on this machine (the local model server on 127.0.0.1:8765)
# kind: forbidden
# message: {policy}:4: the policy imports socket; a policy may import only {allowed}
import socket

from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        socket.create_connection(("127.0.0.1", 8765), timeout=2).sendall(b"GET / HTTP/1.0\r\n\r\n")
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]
