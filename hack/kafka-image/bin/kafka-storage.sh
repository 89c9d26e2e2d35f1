#!/usr/bin/env bash
# Gregor test world: stand-in for the apache/kafka image's kafka-storage.sh.
exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
