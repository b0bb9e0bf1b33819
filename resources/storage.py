"""StorageResource: the data root (outputs) or the corpus (inputs), local folder or S3."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from realsyn.storage import Storage, open_storage


class StorageResource(dg.ConfigurableResource):
    """A local folder or ``s3://bucket/prefix``; S3 settings apply only to S3 roots.

    Credentials default to boto3's own chain (env, profile, instance role); set them with
    ``dg.EnvVar`` for an S3-compatible service that needs explicit keys.
    """

    root: str
    endpoint_url: str | None = None
    region_name: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None

    _storage: Storage | None = PrivateAttr(default=None)

    def get(self) -> Storage:
        if self._storage is None:
            self._storage = open_storage(
                self.root,
                endpoint_url=self.endpoint_url,
                region_name=self.region_name,
                access_key_id=self.access_key_id,
                secret_access_key=self.secret_access_key,
            )
        return self._storage
