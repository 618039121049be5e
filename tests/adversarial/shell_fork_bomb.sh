# tries: a fork bomb (the sandbox's PID namespace holds about 300 processes; the bomb dies with the command)
# expect: output
# message: exit code 0
# message: still here
mkfifo wait && { :(){ :|:& };: ; } 2>/dev/null; read -t 2 <>wait; echo still here
