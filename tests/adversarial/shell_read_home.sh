# tries: list the user's real home directory, and read a key from a home outside /tmp
# expect: error
# message: the sandbox stopped the command (exit code 1): {note}
# message: [stderr]
# message: ls: cannot open directory '{real_home}': Permission denied
# message: cat: {home}/.ssh/id_rsa: Permission denied
ls {real_home}; cat {home}/.ssh/id_rsa
