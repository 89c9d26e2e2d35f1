#!/usr/bin/env bash
# Gregor test world: stand-in for the apache/kafka image's kafka-server-start.sh.
if [ $# -lt 1 ]; then
  echo "USAGE: $0 [-daemon] server.properties [--override property=value]*" >&2
  exit 1
fi
base_dir=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$KAFKA_LOG4J_OPTS" ]; then
  export KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile=$base_dir/config/log4j2.yaml"
fi
if [ -z "$KAFKA_HEAP_OPTS" ]; then
  export KAFKA_HEAP_OPTS="-Xmx1G -Xms1G"
fi
if [ "$1" = "-daemon" ]; then shift; fi
exec "$base_dir/bin/kafka-run-class.sh" -name kafkaServer kafka.Kafka "$@"
