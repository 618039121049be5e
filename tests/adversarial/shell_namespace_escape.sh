# tries: make a new user namespace to become root again and mount the host's root
# expect: error
# message: the sandbox stopped the command (exit code 1): {note}
# message: [stderr]
# message: unshare: unshare failed: Operation not permitted
unshare -r --mount sh -c 'mount --bind / /tmp && cat /tmp/etc/hostname'
