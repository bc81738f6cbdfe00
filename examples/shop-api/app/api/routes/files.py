import os
import shutil
from typing import Any

import requests
import yaml
from fastapi import APIRouter, Depends, File, HTTPException, Request, Response, UploadFile

from app.api.deps import get_current_active_superuser, get_current_active_user
from app.core.config import settings
from app.schemas import Message, User

router = APIRouter(prefix="/files", tags=["files"])


@router.get("/download")
def download_file(path: str) -> Response:
    """Public so that links in order e-mails work without logging in."""
    full_path = os.path.join(settings.UPLOAD_DIR, path)
    try:
        with open(full_path, "rb") as handle:
            content = handle.read()
    except FileNotFoundError:
        raise HTTPException(status_code=404, detail="File not found")
    return Response(content=content, media_type="application/octet-stream")


@router.post("/upload", response_model=Message)
def upload_file(
    file: UploadFile = File(...),
    current_user: User = Depends(get_current_active_user),
) -> Message:
    os.makedirs(settings.UPLOAD_DIR, exist_ok=True)
    destination = os.path.join(settings.UPLOAD_DIR, os.path.basename(file.filename or "upload"))
    with open(destination, "wb") as out:
        shutil.copyfileobj(file.file, out)
    return Message(message=f"Stored {os.path.basename(destination)}")


@router.post("/import-settings", dependencies=[Depends(get_current_active_superuser)])
async def import_settings(request: Request) -> Any:
    """Accepts the YAML export of the old back office."""
    config = yaml.load(await request.body(), Loader=yaml.Loader)
    return {"keys": sorted(config) if isinstance(config, dict) else []}


@router.get("/fetch")
def fetch_remote_image(url: str, current_user: User = Depends(get_current_active_user)) -> Response:
    """Proxy for supplier images (their CDN uses a self-signed certificate)."""
    upstream = requests.get(url, verify=False)
    return Response(
        content=upstream.content,
        media_type=upstream.headers.get("content-type", "application/octet-stream"),
    )
