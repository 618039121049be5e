# tries: connect to an external address with bash's /dev/tcp
# expect: error
# message: the sandbox stopped the command (exit code 1): {note}
# message: [stderr]
# message: bash: socket: Operation not permitted
# message: bash: line 1: /dev/tcp/93.184.216.34/80: Operation not permitted
echo hello > /dev/tcp/93.184.216.34/80
