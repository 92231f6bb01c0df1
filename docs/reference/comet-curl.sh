#!/usr/bin/env bash
# A whole comet session with curl: open it, speak STOMP through it, read with each
# transport, close it. Run it against `python -m comet_core serve`:
#     BASE=http://127.0.0.1:8000/comet bash docs/reference/comet-curl.sh
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:8000/comet}

# [open]
ID=$(curl -sS -X POST "$BASE/")
echo "session id: $ID"
# [open end]

# [send]
# Upload CONNECT at offset 0; the answer is the count of bytes applied (A).
A=$(printf 'CONNECT\naccept-version:1.2\nhost:localhost\n\n\0' |
    curl -sS --data-binary @- "$BASE/$ID/send?offset=0")
echo "applied: $A"
# The next upload starts at A: SUBSCRIBE to a topic, then SEND to it.
A=$(printf 'SUBSCRIBE\nid:0\ndestination:/topic/demo\n\n\0' |
    curl -sS --data-binary @- "$BASE/$ID/send?offset=$A")
A=$(printf 'SEND\ndestination:/topic/demo\n\nhello, comet\0' |
    curl -sS --data-binary @- "$BASE/$ID/send?offset=$A")
echo "applied: $A"
# [send end]

# [poll]
# Long-poll with ack=0: the answer is a "d OFFSET LENGTH" line, then the bytes.
curl -sS "$BASE/$ID/poll?ack=0" -o poll.out
tr '\0' '@' < poll.out; echo
# The client now holds OFFSET+LENGTH bytes: that is the next ack (H).
read -r _ OFFSET LENGTH < poll.out
H=$((OFFSET + LENGTH))
echo "ack: $H"
# [poll end]

# [stream]
# Send again and read it on an XHR stream; recycle=1 ends the stream after one record.
A=$(printf 'SEND\ndestination:/topic/demo\n\nagain\0' |
    curl -sS --data-binary @- "$BASE/$ID/send?offset=$A")
curl -sS -N "$BASE/$ID/stream?ack=$H&recycle=1" | tr '\0' '@'
echo
# [stream end]

# [sse]
# The same bytes again over Server-Sent Events, since ack=$H did not acknowledge them.
curl -sS -N "$BASE/$ID/sse?ack=$H&recycle=1" | tr '\0' '@'
# [sse end]

# [close]
curl -sS -X DELETE -o /dev/null -w 'close: %{http_code}\n' "$BASE/$ID"
curl -sS -o /dev/null -w 'poll after close: %{http_code}\n' "$BASE/$ID/poll?ack=0"
# [close end]
rm -f poll.out
