from fastapi import APIRouter, Depends

from app.api import deps
from app.core.config import settings

from . import admin, files, health, items, login, private, users, utils

api_router = APIRouter()
api_router.include_router(login.router)
api_router.include_router(users.router, prefix="/users", tags=["users"])
api_router.include_router(items.router, prefix="/items", tags=["items"])
api_router.include_router(files.router)
api_router.include_router(admin.router)
api_router.include_router(
    utils.router,
    prefix="/utils",
    dependencies=[Depends(deps.get_current_active_superuser)],
)
api_router.include_router(health.router)

if settings.ENVIRONMENT == "local":
    api_router.include_router(private.router)
