# tries: the first escape: python changes to / and opens a relative path, which no token check sees
# expect: error
# message: the sandbox stopped the command (exit code 1): {note}
# message: [stderr]
# message: Traceback (most recent call last):
# message:   File "<string>", line 1, in <module>
# message: PermissionError: [Errno 13] Permission denied: 'etc/hostname'
python3 -c "import os; os.chdir(chr(47)); print(open('etc/hostname').read())"
