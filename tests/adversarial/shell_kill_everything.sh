# tries: kill every process it can signal, the harness included
# expect: output
# message: exit code 0
# message: alive
# message:
# message: [stderr]
# message: bash: line 1: kill: (-1) - No such process
kill -9 -1; echo alive
