# tries: a symbolic link from the workspace to a file outside
# expect: error
# message: the sandbox stopped the command (exit code 1): {note}
# message: [stderr]
# message: cat: leak: Permission denied
ln -s /etc/shadow leak && cat leak
