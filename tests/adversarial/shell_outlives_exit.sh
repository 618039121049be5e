# tries: leave a daemon running after the command returns
# expect: output
# message: exit code 0
# message: started
nohup sleep 1007 >/dev/null 2>&1 &
echo started
