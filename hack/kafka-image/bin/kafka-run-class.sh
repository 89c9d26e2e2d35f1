#!/usr/bin/env bash
# Gregor test world: a minimal stand-in for the apache/kafka image's kafka-run-class.sh.
# Runs `java` with the image's classpath (/opt/kafka/libs/*) and honours the same
# environment variables: KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_GC_LOG_OPTS,
# KAFKA_JMX_OPTS, KAFKA_LOG4J_OPTS, KAFKA_OPTS, JAVA_HOME, CLASSPATH.
set -e
if [ $# -lt 1 ]; then
  echo "USAGE: $0 [-daemon] [-name servicename] [-loggc] classname [opts]" >&2
  exit 1
fi
base_dir=$(cd "$(dirname "$0")/.." && pwd)

cp="$base_dir/libs/*"
if [ -n "$CLASSPATH" ]; then cp="$CLASSPATH:$cp"; fi

if [ -z "$KAFKA_HEAP_OPTS" ]; then KAFKA_HEAP_OPTS="-Xmx256M"; fi
if [ -z "$KAFKA_JVM_PERFORMANCE_OPTS" ]; then
  KAFKA_JVM_PERFORMANCE_OPTS="-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true"
fi
if [ -z "$KAFKA_LOG4J_OPTS" ]; then
  KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile=$base_dir/config/tools-log4j2.yaml"
fi

# Flags the real script understands; a foreground process needs none of them.
while [ $# -gt 0 ]; do
  case "$1" in
    -name) shift 2 ;;
    -loggc) shift ;;
    -daemon) shift ;;
    *) break ;;
  esac
done

if [ -n "$JAVA_HOME" ]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=java; fi

# shellcheck disable=SC2086
exec "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS $KAFKA_GC_LOG_OPTS $KAFKA_JMX_OPTS $KAFKA_LOG4J_OPTS -cp "$cp" $KAFKA_OPTS "$@"
