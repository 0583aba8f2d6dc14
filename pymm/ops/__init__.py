"""Operations: host checks, PTP, provisioning helpers, and (later) params, shadow, canary, failover."""
