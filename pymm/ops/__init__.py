"""Operations: host description, host doctor, provisioning helpers."""
