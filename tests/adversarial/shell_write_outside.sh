# tries: write outside the workspace
# expect: error
# message: the sandbox stopped the command (exit code 1): {note}
# message: [stderr]
# message: bash: line 1: /var/tmp/glia-was-here.txt: Permission denied
echo glia was here > /var/tmp/glia-was-here.txt
