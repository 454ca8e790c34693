"""Product photos: checked to be real JPEG, PNG or WebP images, re-encoded without metadata (no
GPS of the farm leaks), and a small JPEG thumbnail made for phones on costly data.

Where they are kept is a `PhotoStore`: files under `var/photos` by default, or an S3-compatible
bucket when `CATALOG_PHOTO_S3_BUCKET` is set (boto3 is then needed; it is optional).
"""

import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from services.common.errors import NotFound
from services.common.images import FORMATS, as_jpeg, open_photo
from services.common.images import PhotoTooLarge as PhotoTooLarge  # the routes raise it too
from services.common.paths import var_dir


class PhotoStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def get(self, key: str) -> tuple[bytes, str]: ...
    def url(self, key: str) -> str: ...


class LocalPhotoStore:
    """Photos as files under a folder (var/photos); served by the catalog at /photos/{key}."""

    def __init__(self, root: Path | None = None):
        self.root = (root or var_dir() / "photos").resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise NotFound("no such photo", code="photo_not_found")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)

    async def get(self, key: str) -> tuple[bytes, str]:
        path = self._path(key)
        if not path.is_file():
            raise NotFound("no such photo", code="photo_not_found")
        suffix = path.suffix.lstrip(".")
        content_type = next((ct for ct, ext in FORMATS.values() if ext == suffix), "application/octet-stream")
        return path.read_bytes(), content_type

    def url(self, key: str) -> str:
        return f"/photos/{key}"


class S3PhotoStore:
    """Photos in an S3-compatible bucket (MinIO, AWS, ...), served from its public URL."""

    def __init__(self, bucket: str, *, endpoint_url: str = "", public_url: str = ""):
        try:
            import boto3
        except ImportError as exc:  # optional dependency
            raise RuntimeError("CATALOG_PHOTO_S3_BUCKET is set but boto3 is not installed") from exc
        self.bucket = bucket
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None)
        self.public_url = (public_url or f"{endpoint_url or 'https://s3.amazonaws.com'}/{bucket}").rstrip("/")

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        import asyncio

        await asyncio.to_thread(self.client.put_object, Bucket=self.bucket, Key=key, Body=data,
                                ContentType=content_type)

    async def get(self, key: str) -> tuple[bytes, str]:
        raise NotFound("photos are served by the object store", code="photo_not_found")

    def url(self, key: str) -> str:
        return f"{self.public_url}/{key}"


def store_from_settings(settings) -> PhotoStore:
    if settings.photo_s3_bucket:
        return S3PhotoStore(settings.photo_s3_bucket, endpoint_url=settings.photo_s3_endpoint_url,
                            public_url=settings.photo_s3_public_url)
    return LocalPhotoStore()


@dataclass(frozen=True)
class ProcessedPhoto:
    data: bytes
    content_type: str
    extension: str
    thumbnail: bytes


def process_photo(data: bytes, *, max_bytes: int, max_side: int, thumbnail_side: int) -> ProcessedPhoto:
    """Check an upload is a real JPEG/PNG/WebP within limits; re-encode it and make its thumbnail."""
    image, kind = open_photo(data, max_bytes=max_bytes)
    content_type, extension = FORMATS[kind]
    image.thumbnail((max_side, max_side))
    if kind == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    full = io.BytesIO()
    image.save(full, format=kind, quality=85) if kind != "PNG" else image.save(full, format="PNG", optimize=True)
    return ProcessedPhoto(data=full.getvalue(), content_type=content_type, extension=extension,
                          thumbnail=as_jpeg(image, max_side=thumbnail_side, quality=65))


def new_keys(product_id: int, extension: str) -> tuple[str, str]:
    stem = f"products/{product_id}/{uuid.uuid4().hex}"
    return f"{stem}.{extension}", f"{stem}-thumb.jpg"
