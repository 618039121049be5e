# tries: leave processes behind that outlive the timeout (background, nohup, setsid, a double fork)
# timeout: 2
# expect: error
# message: the command did not finish within 2 s (killed, with every process it started)
nohup sleep 1007 >/dev/null 2>&1 &
setsid sleep 1007 &
(sleep 1007 &)
sleep 30
