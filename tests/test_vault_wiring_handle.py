"""The client's vault handle (llmswitch._vault_wiring.VaultHandle) and reloads of the
vault's settings: what reopens the vault, waiting for its first load without holding
threads, closing without blocking, and a collected client's threads ending."""

from __future__ import annotations

import base64

from llmswitch._vault_wiring import settings_key
from llmswitch.config import Config

MASTER = {"LLMSWITCH_MASTER_KEY": base64.b64encode(bytes([7]) * 32).decode()}


def test_the_aws_kms_endpoint_variables_reopen_the_vault_on_reload() -> None:
    """A reload reopens the vault when what it was opened from changed: the AWS KMS
    client reads its endpoint from these two variables, as GCP's from its own."""
    config = Config(kek="aws-kms://arn:aws:kms:us-east-1:111122223333:key/k")
    for name in ("AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL", "LLMSWITCH_GCP_KMS_ENDPOINT"):
        before = settings_key(config, {**MASTER, name: "http://127.0.0.1:1"})
        after = settings_key(config, {**MASTER, name: "http://127.0.0.1:2"})
        assert before != after, name
