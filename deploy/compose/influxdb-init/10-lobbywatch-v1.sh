#!/bin/bash
# Run once by the influxdb:2 image after its first-start set-up (DOCKER_INFLUXDB_INIT_MODE=setup),
# with the influx CLI already authenticated as the operator.
# InfluxDB 2 首次初始化后执行：为 v1 兼容 API 建立 DBRP 映射，并为 Grafana 创建只读 v1 用户。
#
# 1. An explicit DBRP mapping lobbywatch/autogen -> bucket "lobbywatch" (default RP). InfluxDB 2
#    already gives every bucket a read-only "virtual" mapping with the bucket's name; the explicit
#    one makes the mapping visible (influx v1 dbrp list) and survives a bucket rename.
# 2. A read-only v1 user for Grafana's InfluxQL data source (user/password authentication).
#    The server itself writes with the operator token (Authorization: Token ...).
set -euo pipefail

bucket_name=${DOCKER_INFLUXDB_INIT_BUCKET:-lobbywatch}
bucket_id=${DOCKER_INFLUXDB_INIT_BUCKET_ID:-}
if [ -z "$bucket_id" ]; then
  bucket_id=$(influx bucket list --name "$bucket_name" --hide-headers | awk 'NR == 1 {print $1}')
fi
if [ -z "$bucket_id" ]; then
  echo "lobbywatch init: bucket $bucket_name not found" >&2
  exit 1
fi

# Init scripts run once, on the first start; an existing explicit mapping is kept.
influx v1 dbrp create --db "$bucket_name" --rp autogen --bucket-id "$bucket_id" --default \
  || echo "lobbywatch init: keeping the existing DBRP mapping for $bucket_name" >&2

user=${LOBBYWATCH_GRAFANA_INFLUX_USER:-grafana}
password=${LOBBYWATCH_GRAFANA_INFLUX_PASSWORD:-}
if [ -n "$password" ]; then
  if ! influx v1 auth list --username "$user" --hide-headers 2>/dev/null | grep -q .; then
    influx v1 auth create --username "$user" --password "$password" --read-bucket "$bucket_id" \
      --description "LobbyWatch Grafana (read-only)"
  fi
else
  echo "lobbywatch init: LOBBYWATCH_GRAFANA_INFLUX_PASSWORD not set; no v1 user for Grafana" >&2
fi
