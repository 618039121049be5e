# tries: connect to a service on this machine (the local model server on 127.0.0.1:8765), from bash and python
# expect: error
# message: the sandbox stopped the command (exit code 1): {note}
# message: [stderr]
# message: bash: socket: Operation not permitted
# message: bash: line 1: /dev/tcp/127.0.0.1/8765: Operation not permitted
# message: PermissionError: [Errno 1] Operation not permitted
echo hello > /dev/tcp/127.0.0.1/8765
python3 -c "
import socket, sys
try:
    socket.create_connection(('127.0.0.1', 8765), timeout=2)
except OSError as e:
    sys.exit(f'{type(e).__name__}: {e}')"
