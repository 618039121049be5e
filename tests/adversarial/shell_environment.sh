# tries: find keys and tokens in the environment, its own or its first process's
# expect: output
# message: exit code 1
# message: 0
# message: 0
env | grep -ci -e key -e token -e secret -e openai; tr '\0' '\n' < /proc/1/environ | grep -ci -e key -e openai
