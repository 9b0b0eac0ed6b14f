# Sourced by the WAN bench scripts: kftp-bench's delay line between two network namespaces
# (`cargo build --release -p kftp-bench --examples`: wan_hold). As root.
#
#   wan_start DIR DELAY_MS LOSS_PERCENT MBIT TCP_BUF   # sets NA and NB (10.77.0.1 / .2)
#   wan_stop DIR                                        # ends it (and prints its errors)
# Needs B (the directory of the release build).

wan_start() {
  local dir=$1
  mkfifo "$dir/hold"
  "$B/examples/wan_hold" "$2" "$3" "$4" "$5" < "$dir/hold" > "$dir/ns" 2> "$dir/wan.err" &
  WAN_HOLD=$!
  exec 3> "$dir/hold"   # held open until wan_stop: wan_hold stops when it closes
  for _ in $(seq 1 50); do [ -s "$dir/ns" ] && break; sleep 0.2; done
  read -r NA NB < "$dir/ns"
}

wan_stop() {
  exec 3>&-
  wait "$WAN_HOLD" 2>/dev/null
  cat "$1/wan.err"
}
