# tries: reach a process outside through a named Unix socket: a datagram socket pair (seccomp allowed socketpair)
#+ and sendto() a listener's path (Landlock at this kernel does not cover Unix socket paths)
# door: shell
# expect: error
# message: the sandbox stopped the command (exit code 1): {note}
# message: [stderr]
# message: PermissionError: [Errno 1] Operation not permitted
python3 -c "import socket; a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM); a.sendto(b'out', '{listener}')" 2>&1 >/dev/null | tail -1 >&2; exit 1
