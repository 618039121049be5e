# tries: reach the real root through /proc/self/root
# expect: error
# message: the sandbox stopped the command (exit code 1): {note}
# message: [stderr]
# message: cat: /proc/self/root/etc/hostname: Permission denied
cat /proc/self/root/etc/hostname
