#!/bin/bash
# usage: bench/demo_time.sh CLONE_DIR  -- runs make demo there; prints seconds until the endpoints page has data
cd "$1"
start=$(date +%s.%N)
setsid make demo > "${LOG:-/tmp/sextant-demo.log}" 2>&1 &
pid=$!
while true; do
  if curl -sf localhost:8501/_stcore/health >/dev/null 2>&1 && [ -f var/store/CURRENT ]; then
    n=$(.venv/bin/python -c "
import duckdb,pathlib
p=pathlib.Path('var/store'); name=(p/'CURRENT').read_text().strip()
c=duckdb.connect(str(p/'snapshots'/name), read_only=True)
try: print(c.execute('select count(*) from aws_sagemaker_endpoint').fetchone()[0])
except Exception: print(0)
" 2>/dev/null)
    if [ "${n:-0}" -gt 0 ]; then echo "endpoints=$n after $(echo "$(date +%s.%N)-$start" | bc) s"; break; fi
  fi
  sleep 1
done
