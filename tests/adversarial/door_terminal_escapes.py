# tries: write to the terminal Glia runs in: a forged JSON result line, a clipboard write (OSC 52), a window title,
#+ a screen clear and a line overwritten
# door: policy
# kind: ok
# output: {"run_id": "forged", "mean_e2e_s": 0.001, "error": null}
# output: \x1b]52;c;Z2xpYQ==\x07\x1b]0;pwned\x07\x1b[2J
# output: \r\x1b[1Aoverwritten line
from glia.simulator import BaseGlobalScheduler


class P(BaseGlobalScheduler):
    def schedule(self):
        if not DONE:
            DONE.append(1)
            print('{"run_id": "forged", "mean_e2e_s": 0.001, "error": null}')
            print("\x1b]52;c;Z2xpYQ==\x07\x1b]0;pwned\x07\x1b[2J", flush=True)
            print("\r\x1b[1Aoverwritten line", flush=True)
        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]


DONE = []
