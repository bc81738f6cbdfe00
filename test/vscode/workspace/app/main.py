from fastapi import Depends, FastAPI

from app import settings
from app.deps import get_current_user
from app.routers import admin, debug, items

app = FastAPI(title="Shop")

app.include_router(items.router, prefix="/items")
app.include_router(admin.router, prefix="/admin", dependencies=[Depends(get_current_user)])

if settings.DEBUG:
    app.include_router(debug.router, prefix="/debug")


@app.get("/health")  # fastapi-lens: public load balancer probe
def health() -> dict:
    return {"status": "ok"}
