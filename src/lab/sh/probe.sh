#!/bin/bash
# Runs inside one source pod's network namespace: ICMP and TCP/80 to each target pod, in parallel
# (at most $PROBE_PARALLEL checks at once, so a 100-node matrix does not starve the machine).
# Args: NAME=IP ... (NAME is node/pod). Prints "NAME icmp ok|fail" and "NAME tcp ok|fail".
# The echo request is full-size for the pod network ($PROBE_ICMP_SIZE bytes of payload, don't
# fragment), so a path that drops large packets (an MTU mismatch) fails it while TCP's small
# segments still pass.
# The TCP check passes only if the target answers with its own banner, so a reply from the wrong
# pod (e.g. a reused address) is a failure.
max=${PROBE_PARALLEL:-32}
size=${PROBE_ICMP_SIZE:-56}
running=0
for t in "$@"; do
  name=${t%%=*} ip=${t#*=}
  {
    if ping -n -q -c 1 -W 1 -M do -s "$size" "$ip" > /dev/null 2>&1 || ping -n -q -c 1 -W 1 -M do -s "$size" "$ip" > /dev/null 2>&1; then
      echo "$name icmp ok"
    else echo "$name icmp fail"; fi
  } &
  {
    out=$(socat -T 2 -u "TCP:$ip:80,connect-timeout=2" STDOUT 2> /dev/null)
    if [ "$out" = "pod $name $ip" ]; then echo "$name tcp ok"; else echo "$name tcp fail"; fi
  } &
  running=$((running + 2))
  while [ "$running" -ge "$max" ]; do wait -n; running=$((running - 1)); done
done
wait
