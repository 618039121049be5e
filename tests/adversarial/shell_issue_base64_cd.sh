# tries: the second escape: the directory name decoded at run time
# expect: error
# message: the sandbox stopped the command (exit code 1): {note}
# message: [stderr]
# message: head: cannot open 'passwd' for reading: Permission denied
cd $(echo L2V0Yw== | base64 -d) && head -c 40 passwd
